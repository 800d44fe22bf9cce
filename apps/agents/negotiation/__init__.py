"""Contract-net negotiation of tasks between agents, within and across institutions."""
