"""The HTTP API: FastAPI app, routers, authentication and error rendering."""
