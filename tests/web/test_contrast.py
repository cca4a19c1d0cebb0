"""Every badge's text stands out from its background by at least 4.5:1 (WCAG AA for normal text).

Read from the stylesheets themselves, so a colour changed there is checked here; axe-core checks the pages
the browser journeys visit as well (tests/browser/).
"""

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "analysis" / "static" / "analysis"
ADMIN_CSS = (STATIC / "admin.css").read_text()
APP_CSS = (STATIC / "app.css").read_text()


def luminance(hex_colour: str) -> float:
    if len(hex_colour) == 4:  # #fff
        hex_colour = "#" + "".join(c * 2 for c in hex_colour[1:])
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def declaration(css: str, selector: str, prop: str) -> str:
    rule = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", css)
    assert rule, selector
    value = re.search(rf"(?:^|;)\s*{prop}\s*:\s*(#[0-9a-fA-F]{{6}}|#[0-9a-fA-F]{{3}})\b", rule.group(1))
    assert value, (selector, prop)
    return value.group(1)


BADGE_TONES = sorted(set(re.findall(r"\.sg-badge-(\w+) \{", ADMIN_CSS)))


def test_the_console_has_badge_tones_to_check():
    assert {"ok", "warn", "bad", "status"} <= set(BADGE_TONES)


@pytest.mark.parametrize("tone", BADGE_TONES)
def test_each_console_badge_reads_at_4_5_to_1(tone):
    text = declaration(ADMIN_CSS, ".sg-badge", "color")
    background = declaration(ADMIN_CSS, f".sg-badge-{tone}", "background")
    assert contrast(text, background) >= 4.5, (tone, text, background)


def test_the_plain_console_badge_and_the_analysts_badges_read_at_4_5_to_1():
    assert (
        contrast(
            declaration(ADMIN_CSS, ".sg-badge", "color"), declaration(ADMIN_CSS, ".sg-badge", "background")
        )
        >= 4.5
    )
    foreground = declaration(APP_CSS, ":root", "--fg")
    assert contrast(foreground, declaration(APP_CSS, ".badge", "background")) >= 4.5


def test_the_contrast_formula_matches_known_pairs():
    assert round(contrast("#ffffff", "#000000"), 1) == 21.0
    assert round(contrast("#333333", "#2e7d32"), 2) < 4.5  # the pair the issue found in the console
