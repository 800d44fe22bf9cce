"""Small models learn from council verdicts: training examples, retrained candidates, promotion by a person."""
