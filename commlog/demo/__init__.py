"""Demo data: deterministic lenders, accounts, messages and delivery outcomes.

`commlog.demo.seed.seed_demo` writes it; `commlog.demo.outcomes` is the pure ground truth of
delivery outcomes (also used by the sandbox provider).
"""
