"""One home per use case: the rules of "verify and record" and "sign and record" live here, once.

The HTTP routes, the web page and the job workers call these (the CLI records nothing: it
verifies and signs the operator's own files, or goes through the HTTP routes with `--server`);
each caller only decides how to wait for the worker pools (the routes in bounded thread pools off the event loop,
the jobs in their worker thread). The tenant the work is done for is part of every request
object, so every store write names it.
"""
