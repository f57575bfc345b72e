"""The pure core: entities, names, stage rules, the filter grammar and the error taxonomy.

Nothing here does I/O or imports another Modelyard layer.
"""
