"""Local emulator of the Facebook Graph (Pages) and Zalo OA APIs, with fault injection.

Entry points: :func:`scheduler.sandbox.app.create_app` and
:class:`scheduler.sandbox.server.SandboxServer`. Nothing is started at import time.
"""
