"""How the Procfile's command serves the app: gunicorn manages the processes, uvicorn's worker
(``uvicorn-worker``) owns every connection, and the Flask app runs in a thread pool behind
``a2wsgi``. Our code here is configuration and a small adapter, never HTTP parsing:

* :mod:`.bounds` the connection layer's limits, read once from the environment;
* :mod:`.protocol` uvicorn's h11 protocol with the three time limits it lacks (head, writes)
  and the cap on connections waiting for their head;
* :mod:`.asgi` the app adapter: body read whole (within its time limit) before a thread sees
  it, head size and header count answered 431, the access line in gunicorn's format;
* :mod:`.worker` the gunicorn worker class that puts them together, and the open-files check;
* :mod:`.gunicorn_setup` what gunicorn.conf.py imports: metrics folder, logger class.

Why this layer and not gthread, gunicorn's own asgi worker or a proxy: docs/deploying.md.
"""
