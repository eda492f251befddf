"""The routes' rules, free of any web framework: what each route does, written once, for the
Flask blueprint (:mod:`token_server.routes`) and any other host (an ASGI router, a host's view).

- :mod:`.inputs`: the request as plain data (:class:`~.inputs.Request`: the identified caller,
  the body, the query) and the checks of the body (JSON, size, fields);
- :mod:`.checks`: who may act on which uid, device ids;
- :mod:`.tokens`, :mod:`.users`, :mod:`.devices`: one rule per route, a generator;
- :mod:`.drive`: runs a rule with the blocking client (:func:`~.drive.run_sync`) or the
  async one (:func:`~.drive.run_async`);
- :mod:`.answers`: :class:`~.answers.Answer` (status, JSON body, headers);
- :mod:`.errors`: the one error mapping (:func:`~.errors.answer_for`).

This package imports no submodule itself, so that the modules the rules use (the caller, the
device tokens) may import :mod:`.errors` without a cycle.
"""
