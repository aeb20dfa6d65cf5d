"""Screenshots of the MLflow UI as `zoo ui` opens it (not a test): runs table, compare page, a run page.

Run: ``.venv/bin/python experiments/ui_screenshots.py [--home DIR] [--out docs/img]``. Without
``--home`` it makes a small store first (a 2 x 2 study on ``synth:80``, one test year, one seed,
two epochs, then ``zoo evaluate``) in a temporary folder; with it, it shows that zoo home's store.
It starts ``zoo ui`` on the store, opens the addresses ``zoo ui`` prints (and a run's page) in
headless Chromium from the system packages (``apt-get install chromium``), and writes
``ui-runs.png``, ``ui-compare.png`` and ``ui-run.png`` (palette PNGs, a few hundred KB together).
Nothing in the test suite needs Chromium.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: The browser's flags: headless, no sandbox (root in a container), nothing fetched from outside.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
STUDY = """[study]
name = "ui-demo"
description = "GRU and DecompGRU x IC / weighted-MSE on a synthetic market (the screenshots' store)"
specs = ["{repo}/specs/gru.toml", "{repo}/specs/decompgru.toml"]
labels = {{ weighted_mse = "mse" }}
[study.grid]
"train.loss" = ["ic", "weighted_mse"]
"""
SETS = (
    "data.window=30",
    "data.min_history=20",
    "train.test_years=[2016]",
    "train.train_years=1",
    "train.seeds=[0]",
    "train.max_epochs=2",
    "train.days_per_epoch=8",
    "train.valid_stride=10",
)


def zoo(home: Path, *args: str, timeout: float = 1800) -> None:
    """Run ``zoo ARGS`` with ``home`` as the zoo home (its store and reports)."""
    env = {**os.environ, "ZOO_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-c", "import sys; from zoo.cli import main; sys.exit(main())", *args]
    subprocess.run(cmd, env=env, cwd=home, check=True, timeout=timeout)


def make_store(home: Path) -> None:
    """A small evaluated study in ``home``: train four variants on synth:80, then evaluate them."""
    study = home / "study.toml"
    study.write_text(STUDY.format(repo=REPO))
    zoo(home, "study", str(study), "--data", "synth:80", *[a for s in SETS for a in ("--set", s)])
    zoo(home, "evaluate", "ui-demo")


def start_ui(home: Path) -> tuple[subprocess.Popen, list[str]]:
    """``zoo ui`` on the home's store; the process and the lines it printed (addresses)."""
    env = {**os.environ, "ZOO_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-c", "import sys; from zoo.cli import main; sys.exit(main())", "ui"]
    proc = subprocess.Popen(cmd, env=env, cwd=home, stdout=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + 600
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        print(line.rstrip())
        if "compare its" in line or time.monotonic() > deadline:
            break
    return proc, lines


def _high(fd: int) -> int:
    """``fd`` moved to a number above 9, so that placing the pipe on the child's 3 and 4 clobbers nothing."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """Headless Chromium driven over the DevTools protocol through a pipe (no websocket library)."""

    def __init__(self, size: tuple[int, int]) -> None:
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            raise SystemExit("no chromium: apt-get update && apt-get install -y chromium")
        self.profile = tempfile.TemporaryDirectory()
        to_chrome_r, self.to_chrome = map(_high, os.pipe())
        self.from_chrome, from_chrome_w = map(_high, os.pipe())
        # the protocol's pipe is the child's fds 3 (it reads) and 4 (it writes)
        cmd = [browser, *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile.name}"]
        cmd += [f"--window-size={size[0]},{size[1]}", "about:blank"]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=lambda: (os.dup2(to_chrome_r, 3), os.dup2(from_chrome_w, 4)),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer, self.next_id = b"", 0
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)
        self.resize(*size)

    def resize(self, width: int, height: int) -> None:
        """Set the page's viewport size (CSS pixels, scale 1)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def send(self, method: str, session: bool = False, **params) -> dict:
        """Send one command and return its result (events in between are dropped)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, url: str, ready: str, timeout: float = 120.0, settle: float = 3.0) -> None:
        """Load ``url`` and wait until the JavaScript condition ``ready`` holds (then ``settle`` seconds)."""
        self.send("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + timeout
        while not self.evaluate(ready):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: {ready} not true after {timeout:.0f}s")
            time.sleep(0.5)
        time.sleep(settle)

    def screenshot(self, out: Path) -> None:
        """A PNG of the viewport."""
        data = self.send("Page.captureScreenshot", session=True, format="png")["data"]
        out.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        self.proc.terminate()
        self.proc.wait(30)
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        self.profile.cleanup()


def shrink(path: Path, colors: int = 128) -> None:
    """Rewrite a screenshot as a palette PNG (a UI's flat colours survive; a fraction of the bytes)."""
    from PIL import Image

    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def pages(home: Path, lines: list[str]) -> dict[str, str]:
    """The addresses to capture: the study's runs table and compare page as printed, a run's page."""
    from mlflow.tracking import MlflowClient

    from zoo.tracking import view

    url = next(x for x in lines if x.startswith("MLflow UI on")).split(": ", 1)[1].split()[0]
    runs = next(x.split(": ", 1)[1] for x in lines if x.strip().startswith("ui-demo:"))
    compare = next(x.split(": ", 1)[1] for x in lines if "compare its" in x)
    c = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    exp = c.get_experiment_by_name("ui-demo")
    (best,) = c.search_runs(
        [exp.experiment_id],
        "tags.`zoo.role` = 'parent'",
        order_by=["metrics.`0_RankIC_10d` DESC"],
        max_results=1,
    )
    run = view.run_url(url, exp.experiment_id, best.info.run_id)
    table = run.replace("?", f"/artifacts/{TABLE}?", 1)
    return {"runs": runs, "compare": compare, "run": run, "table": table}


#: The metric table shown on the run page's Artifacts tab.
TABLE = "metrics/evaluation.csv"
#: Browser storage set before the shots: the UI's assistant panel (which opens itself on a first
#: visit and takes a third of the width) stays closed. The layout is left to the addresses.
STORAGE = {"mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true", "mlflow.assistant.panelOpen_v1": "false"}


#: Shown once the page has drawn the runs' metrics.
READY = "document.body.innerText.includes('0_RankIC_10d')"
#: Viewport height per page (the runs table of a study is short; the compare page is long).
HEIGHTS = {"runs": 560, "compare": 1150, "run": 900, "table": 800}
#: Per page: what must be drawn before the shot (default :data:`READY`), and a click a reader makes
#: first (JavaScript).
EXTRA_READY = {
    "compare": f"{READY} && document.querySelector('.js-plotly-plot .main-svg') !== null",
    "table": "document.body.innerText.includes('eval.ic10.all.rank_ic')",
}
#: The compare page: fold its "Run details" and "Parameters" sections so that "Metrics" shows under the plot.
CLICKS = {
    "compare": "Array.from(document.querySelectorAll('[role=button]'))"
    ".filter(e => ['Run details', 'Parameters'].includes(e.textContent.trim())).forEach(e => e.click())"
}


def capture(targets: dict[str, str], out_dir: Path, width: int, colors: int) -> None:
    """Open each address in one fresh browser profile and write ``ui-<name>.png`` into ``out_dir``."""
    browser = Browser((width, max(HEIGHTS.values())))
    try:
        setup = "".join(
            f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)});" for k, v in STORAGE.items()
        )
        browser.send("Page.addScriptToEvaluateOnNewDocument", session=True, source=setup)
        for name, url in targets.items():
            out = out_dir / f"ui-{name}.png"
            browser.open("about:blank", "true", settle=0.2)  # each address loads afresh, as when pasted
            browser.resize(width, HEIGHTS.get(name, 900))
            browser.open(url, f"document.body && ({EXTRA_READY.get(name, READY)})")
            if name in CLICKS:
                browser.evaluate(CLICKS[name])
                time.sleep(2.0)
            browser.screenshot(out)
            shrink(out, colors)
            print(f"{out}: {out.stat().st_size // 1024} KB  <- {url}")
    finally:
        browser.close()


def main() -> None:
    """Make (or open) a store, start ``zoo ui``, capture the three pages into ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--home", type=Path, help="A zoo home whose store holds a study 'ui-demo' (default: make one)."
    )
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--colors", type=int, default=64, help="Palette size of the PNGs.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp)
        if args.home is None:
            make_store(home)
        proc, lines = start_ui(home)
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            capture(pages(home, lines), args.out, args.width, args.colors)
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(60)


if __name__ == "__main__":
    main()
