"""Strings an adversarial contributor would put in a record, a file name or a verification file, to turn
the leaderboard's pages into markup or links: every escaper is tested against all of them."""

PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<a href=javascript:alert(1)>x</a>",
    "<!-- hidden --><b>bold</b>",
    "[click](javascript:alert(1))",
    "[click](https://evil.example)",
    r"\[click\](https://evil.example)",  # backslash-escaped markdown: an escaper that skips `\` turns it live
    r"\\[click\\](https://evil.example)",
    "![tracker](https://evil.example/pixel.png)",
    "<https://evil.example>",
    "x)<img src=x onerror=alert(1)>[j](javascript:alert(1))(",  # the record file name
    "`code` **bold** _it_ ~~gone~~",
    "| a | b |",
    "# heading",
    "line\n# heading\n<script>",
    "&lt;script&gt; &#60;script&#62; &amp;",
    "\" onmouseover=\"alert(1)",
    "' onmouseover='alert(1)",
    "{{ 7 * 7 }} {% raw %}",
)
