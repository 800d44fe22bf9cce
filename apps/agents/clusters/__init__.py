"""Clusters of agents: ordered stages, a reputation-weighted vote, a flagging policy.

services.py writes (cluster create/update, run start, stage execution, finalisation),
selectors.py reads, combine.py and flagging.py are pure functions the final step uses.
"""
