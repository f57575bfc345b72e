"""The model history API and the live event stream (Modelyard's own surface)."""
