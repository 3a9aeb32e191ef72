"""Rule packs shipped with the SDK (``cua``); others come from the ``augur.rule_packs``
entry-point group."""
