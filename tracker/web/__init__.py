"""The HTTP edge, on Litestar: the webhook the platform posts to, the read API, the web console."""
