"""Private machinery behind :class:`augur_sdk.DebugSession` (the facade in ``session.py``).

* :mod:`.options`: the constructor's arguments checked and resolved into one object;
* :mod:`.recorder`: one run's pipeline, check -> redact -> gate -> emit -> sinks for every
  record kind;
* :mod:`.spans`: step-span bookkeeping (the open step span, screenshot-hash futures, late
  span ends, ``step_scope`` spans);
* :mod:`.hooks`: process hooks (interpreter exit, SIGTERM, fork).
"""
