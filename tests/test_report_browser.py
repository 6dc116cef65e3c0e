"""The Snakemake report in a real browser: headless Chromium (Debian's package, /usr/bin/chromium).

A tiny run (the .test/ configuration, in a fresh checkout) builds the targets `tables` and
`figure4`; `snakemake --report` renders their report. Chromium then opens

* the report as it is: its front page (the workflow description) names the profile and the commit;
* the report with a small script appended that clicks, as a reader does, the menu entry "Tables",
  then the eye button of Table 1: the dumped DOM lists the tables in numeric order, each with a view
  button (none is a download link of a Markdown file), and shows an <iframe> whose source is
  Table 1's HTML (a data: URI, the report's way to show an HTML result in the page);
* that iframe's page on its own (its data: URI decoded to a file): its <td> cells hold Table 1's
  rows, a variant and its BLEU-4 of table1.csv.

What this does not prove: Chromium's --dump-dom serialises the top frame only (the iframe's document
is another, opaque origin), so the third step renders the iframe's page separately instead of
reading it out of the report's frame.
"""

import base64
import html
import json
import re
import subprocess
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from test_workflow import fresh_checkout, run, snakemake, tiny_params, write_params

CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (Debian package chromium)")

# Appended to a copy of the report: click "Tables" in the menu, then Table 1's eye button.
CLICK_TABLE1 = """
<script>
(function () {
  function find(selector, text) {
    return Array.from(document.querySelectorAll(selector)).find(el => el.textContent.trim() === text);
  }
  let step = 0;
  const timer = setInterval(function () {
    if (step === 0) {
      const menu = find("a", "Tables");
      if (menu) { menu.click(); step = 1; }
    } else if (step === 1) {
      const cell = find("td", "Table 01");
      const button = cell && cell.parentElement.querySelector("a");
      if (button) { button.click(); step = 2; }
    } else if (document.querySelector("iframe")) {
      document.body.setAttribute("data-probe", "table1-shown");
      clearInterval(timer);
    }
  }, 100);
})();
</script>
"""


def dump_dom(url: str, profile_dir: Path) -> str:
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={profile_dir}", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "</html>" in result.stdout, result.stderr[-3000:]
    return result.stdout


def decode_data_uri(uri: str) -> str:
    head, _, data = uri.partition(",")
    assert head.startswith("data:text/html") and head.endswith(";base64"), head[:120]
    return base64.b64decode(urllib.parse.unquote(data)).decode("utf-8")


def test_markdown_table_and_its_html_page_hold_the_same_cells():
    """The page of a table whose step writes Markdown only (Tables 9, 10, input reliance) is read
    back from that Markdown: same caption, header, groups, rows and paper lines."""
    from qbslt.reports.rendering import html_table, markdown_table, markdown_to_html, parse_markdown_table

    lines = [("group", ["Group | one", "", ""]), ("row", ["a|b", "12.34 ± 0.56 †", "7.00 ± 0.00"]),
             ("paper", ["", "↳ paper (Δ)", "10.00 (+2.34)"]), ("row", ["<c>", "not run", "–"])]
    caption = "Table 9: a caption.\nIts second line."
    text = markdown_table(caption, ["Method", "B4", "dev B4"], lines, 2)
    assert parse_markdown_table(text) == (caption, ["Method", "B4", "dev B4"], lines, 2)
    page = markdown_to_html(text)
    assert page == html_table(caption, ["Method", "B4", "dev B4"], lines, 2)
    assert "<title>Table 9</title>" in page and "<td>a|b</td>" in page and "<td>&lt;c&gt;</td>" in page
    assert '<tr class="group"><td colspan="3">Group | one</td></tr>' in page
    assert '<td class="num">12.34 ± 0.56 †</td>' in page and '<tr class="paper">' in page


@pytest.mark.e2e
@needs_chromium
def test_report_shows_every_table_inline_in_chromium(tmp_path):
    work = fresh_checkout(tmp_path)
    write_params(work, tiny_params())
    run(["git", "commit", "-qam", "tiny params"], work)
    commit = run(["git", "rev-parse", "--short", "HEAD"], work).stdout.strip()
    snakemake(work, "tables", "figure4")
    snakemake(work, "--report", "report.html", "tables", "figure4")
    report = work / "report.html"
    tables_dir = work / "results" / "embedded" / "tables"
    numbers = sorted(int(p.stem.removeprefix("table")) for p in tables_dir.glob("table*.md"))
    assert numbers == [1, 2, 8]  # what the tiny matrix renders (tests/test_workflow.py)
    for n in numbers:
        assert (tables_dir / f"table{n}.html").exists()
    assert (tables_dir / "reliance.html").exists()

    # The front page: profile and commit.
    front = dump_dom(report.as_uri(), tmp_path / "chromium-front")
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", front)))
    assert "profile embedded at commit" in text and commit in text
    assert "the profile key of params.yaml" not in text

    # Click Tables, then Table 1's eye button.
    probe = tmp_path / "probe.html"
    source = report.read_text(encoding="utf-8")
    head, body_end, tail = source.rpartition("</body>")  # the last one: the bundled JS quotes the tag too
    assert body_end
    probe.write_text(head + CLICK_TABLE1 + body_end + tail, encoding="utf-8")
    dom = dump_dom(probe.as_uri(), tmp_path / "chromium-probe")
    assert 'data-probe="table1-shown"' in dom, "the report's JavaScript did not show Table 1"
    labels = re.findall(r"<td[^>]*>\s*(Table [^<]+?)\s*</td>", dom)
    assert labels == ["Table 01", "Table 02", "Table 08", "Table C: the paper's claims (not in the paper)",
                      "Table R: input reliance (not in the paper)"], labels
    # Each entry's eye is a view button (href="#"), none a download link (of a Markdown file or other).
    assert len(re.findall(r'<a [^>]*iconname="eye"[^>]*href="#"', dom)) == len(labels)
    assert "download=" not in dom and "data:text/markdown" not in dom
    frames = re.findall(r'<iframe[^>]*src="([^"]+)"', dom)
    assert len(frames) == 1, frames
    page = decode_data_uri(html.unescape(frames[0]))
    assert "<caption>Table 1:" in page

    # The shown page in Chromium: Table 1's rows, a variant and its BLEU-4 of table1.csv.
    table1 = tmp_path / "table1-shown.html"
    table1.write_text(page, encoding="utf-8")
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                  dump_dom(table1.as_uri(), tmp_path / "chromium-table"))]
    csv = pd.read_csv(tables_dir / "table1.csv")
    measured = csv[csv["status"] == "measured"]
    assert not measured.empty
    for _, row in measured.iterrows():
        assert row["variant"] in cells
        assert any(c.startswith(f"{row['bleu4_mean']:.2f} ± {row['bleu4_std']:.2f}") for c in cells), row["variant"]

    # Every entry of the report's Tables category is HTML (shown in the page), Figure 4 an image.
    results = json.loads(re.search(r"var results = (\{.*?\});\n", source, re.S).group(1))
    kinds = {Path(path).name: entry["mime_type"] for path, entry in results.items()}
    assert kinds["figure4.png"] == "image/png"
    assert {name for name, mime in kinds.items() if name.startswith(("table", "reliance"))} == \
        {f"table{n}.html" for n in numbers} | {"reliance.html"}
    assert all(mime == "text/html" for name, mime in kinds.items() if name.endswith(".html"))
