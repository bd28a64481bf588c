"""An estimated count claims no more than it knows: "about" two significant figures."""

from commlog.log_queries import about


def test_about_keeps_two_significant_figures():
    assert [about(n) for n in (7, 99, 123, 414_837, 1_050_000)] == [7, 99, 120, 410_000, 1_100_000]
