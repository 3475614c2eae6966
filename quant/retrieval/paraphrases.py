"""Text queries as a user would type them, for judging text retrieval beside the archetype queries of
quant.retrieval.evaluation.TEXT_QUERIES (which were written from the archetypes' definitions).

Written on 2026-12-07 without opening the document templates (quant.retrieval.documents) or any retrieval
result, and not changed after their precision was first measured: a figure on these is what a user asking in
their own words gets. Two per archetype; the evaluation reports each query and the mean."""

PARAPHRASES: dict[str, tuple[str, ...]] = {
    "martingale": ("wallets that keep doubling their bet after losing",
                   "gambler who sizes up every time a trade goes bad"),
    "market_maker": ("accounts buying and selling the same token all day long",
                     "high frequency flipper that holds for a few minutes"),
    "insider": ("wallets that seem to know about the rug pull before it happens",
                "dev connected accounts that dump right before the crash"),
    "sniper": ("bots that buy in the first seconds",
               "who buys a token the moment its pool opens"),
    "wash_trader": ("fake volume between related wallets",
                    "accounts trading back and forth with each other to pump the volume"),
    "generalist": ("wallet that trades all kinds of coins, not one niche",
                   "diversified trader spread over many sectors"),
    "smart_money": ("traders who make money most of the time",
                    "the best wallets to copy trade"),
}
