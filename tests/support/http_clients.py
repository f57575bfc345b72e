"""httpx for the tests, with one TLS context for every client.

httpx builds a TLS context for each client it makes (certifi's CA bundle loaded and parsed:
about 50 ms of CPU on the 2-core CI machine), and each `httpx.get` makes a client. The tests
made thousands, nearly all for plain http://, where the context is never used: the
authorization matrices alone spent about a minute there. Here every client shares one context,
made as httpx makes its default (`httpx.create_ssl_context()`), so https:// is checked as
before.
"""

from __future__ import annotations

import functools

import httpx

TLS = httpx.create_ssl_context()

Client = functools.partial(httpx.Client, verify=TLS)
get = functools.partial(httpx.get, verify=TLS)
post = functools.partial(httpx.post, verify=TLS)
put = functools.partial(httpx.put, verify=TLS)
patch = functools.partial(httpx.patch, verify=TLS)
request = functools.partial(httpx.request, verify=TLS)
stream = functools.partial(httpx.stream, verify=TLS)
