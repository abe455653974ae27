"""One module per source kind; registry.py maps kind names to their builders."""
