"""How production serves the app: gunicorn with the tuned settings of ``gunicorn_config.py``,
started by :func:`.production.run` (``python server.py --production``, the Procfile's command, and
``cometchat-token-server serve`` / ``python -m token_server.serving`` from an installed wheel)."""
