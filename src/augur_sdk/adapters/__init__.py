"""Model-API adapters: what a provider's own response and message shapes hold, turned into
Augur records. :mod:`.extract` reads logprobs and reasoning out of a response."""
