"""The HTTP edge: the webhook the platform posts to and the read API, on Litestar."""
