"""The training panel in real Chromium against a real server: train, watch, pause, stop."""

from __future__ import annotations

import time

import numpy as np
from shapely.geometry import mapping

from tests.e2e.app_page import TIMEOUT_MS, open_app, open_slide, stage_pixels
from tests.helpers import ServerProcess, slide_id_by_name
from tests.training_support import tissue_and_background

DEMO_NAME = "CMU-1-Small-Region.svs"
# Overlay and legend colours the tests look for: far from H&E pink/purple and white.
TISSUE_COLOR = "#00b050"
BACKGROUND_COLOR = "#ffd400"
# The convergence curve's colour (frontend/src/training/chart.ts TRAIN_COLOR).
TRAIN_RGB = (0x4C, 0x9B, 0xFF)
# Tiny settings so a CPU shared with other tests trains a few iterations per second.
TINY = {"mpp": 4, "patch_size": 64, "batch_size": 2}


def label_demo_slide(server: ServerProcess) -> tuple[str, list[int]]:
    """Create classes Tissue and Background and label them from the slide's real pixels."""
    slide_id = slide_id_by_name(server, DEMO_NAME)
    class_ids = []
    for name, color in (("Tissue", TISSUE_COLOR), ("Background", BACKGROUND_COLOR)):
        answer = server.post("/api/classes", json={"name": name, "color": color})
        assert answer.status_code == 201, answer.text
        class_ids.append(answer.json()["id"])
    tissue, background = tissue_and_background()
    features = [
        {
            "type": "Feature",
            "geometry": mapping(geometry),
            "properties": {"classification": {"name": name}},
        }
        for name, geometry in (("Tissue", tissue), ("Background", background))
    ]
    doc = {"type": "FeatureCollection", "features": features}
    answer = server.request("PUT", f"/api/slides/{slide_id}/annotations", json=doc)
    assert answer.ok, answer.text
    return slide_id, class_ids


def curve_pixels(page, rgb: tuple[int, int, int] = TRAIN_RGB) -> int:
    """Pixels of the convergence chart's canvas drawn in a curve's colour (the training's)."""
    return page.evaluate(
        """([r, g, b]) => {
            const canvas = document.querySelector('.tr-chart canvas');
            const ctx = canvas.getContext('2d');
            const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (data[i + 3] > 200 && Math.abs(data[i] - r) < 30 &&
                    Math.abs(data[i + 1] - g) < 30 && Math.abs(data[i + 2] - b) < 30) n++;
            }
            return n;
        }""",
        list(rgb),
    )


def chart_state(page) -> tuple[int, int, int]:
    """(points drawn, first iteration, last iteration) of the chart, read at one instant."""
    return tuple(
        page.evaluate(
            """() => {
                const d = document.querySelector('.tr-chart').dataset;
                return [Number(d.points), Number(d.firstIteration), Number(d.lastIteration)];
            }"""
        )
    )


def panel_data(page, key: str) -> str:
    """A data-* attribute of the training panel (state, iteration)."""
    return page.locator("#training-panel").get_attribute(f"data-{key}") or ""


def wait_panel(page, condition: str) -> None:
    """Wait until a JS condition on the training panel element `p` holds."""
    page.wait_for_function(
        f"() => {{ const p = document.getElementById('training-panel'); return {condition}; }}",
        timeout=TIMEOUT_MS * 2,
    )


def watch_from_another_browser(browser, server: ServerProcess, seen: int) -> None:
    """A second browser joining mid-run gets the whole history, then live iterations."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = context.new_page()
        open_app(other, server)
        other.wait_for_function(
            f"""() => {{
                const p = document.getElementById('training-panel');
                const chart = document.querySelector('.tr-chart');
                return p.dataset.state === 'running' && Number(chart.dataset.points) >= {seen};
            }}""",
            timeout=TIMEOUT_MS,
        )
        joined, first, _ = chart_state(other)
        assert first == 1, "the whole history from the first iteration"
        other.wait_for_function(
            f"() => Number(document.querySelector('.tr-chart').dataset.points) >= {joined + 3}",
            timeout=TIMEOUT_MS,
        )
        points, first, last = chart_state(other)
        assert last - first + 1 == points, "no gaps, no duplicates"
    finally:
        context.close()


def changed_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of screen pixels that differ clearly between two screenshots."""
    return float((np.abs(a - b).max(axis=-1) > 30).mean())


def live_preview_shows_and_hides(page) -> None:
    """Live preview on: the run's current weights classify the view, an overlay appears."""
    page.get_by_test_id("toggle-annotations").click()  # labels off: see the preview alone
    page.wait_for_timeout(300)
    plain = stage_pixels(page)
    toggle = page.locator("#training-panel .tr-preview-toggle")
    toggle.check()
    wait_panel(page, "p.dataset.preview !== '' && p.dataset.previewLoaded === 'true'")
    page.wait_for_timeout(300)
    assert changed_share(stage_pixels(page), plain) > 0.2, "the preview overlay covers the view"
    toggle.uncheck()
    wait_panel(page, "p.dataset.preview === ''")
    page.wait_for_timeout(300)
    assert changed_share(stage_pixels(page), plain) < 0.02, "preview off: the slide alone again"
    page.get_by_test_id("toggle-annotations").click()


def test_train_watch_pause_stop(page, browser, server_factory):
    """Train from the panel: the chart draws, the counter rises, pause holds, stop makes an app."""
    server = server_factory()
    label_demo_slide(server)
    open_app(page, server)
    open_slide(page)

    panel = page.locator("#training-panel")
    train = panel.locator(".tr-train")
    train.wait_for(timeout=TIMEOUT_MS)
    # Both labelled classes are chosen by default; the open slide is the training slide.
    page.wait_for_function(
        "() => document.querySelectorAll('#training-panel .tr-classes input:checked').length === 2",
        timeout=TIMEOUT_MS,
    )
    assert "the open slide" in panel.locator(".tr-slides-picker summary").inner_text()
    for name, value in {**TINY, "iterations": 100000}.items():
        panel.locator(f"input[name={name}]").fill(str(value))
    assert "≈ 2.5×" in panel.locator(".tr-mag-text").inner_text()
    assert train.is_enabled() and panel.locator(".tr-pause").is_disabled()

    train.click()
    wait_panel(page, "p.dataset.state === 'running' && Number(p.dataset.iteration) >= 3")
    page.wait_for_function(
        "() => Number(document.querySelector('.tr-chart').dataset.points) >= 3",
        timeout=TIMEOUT_MS,
    )
    first_points = int(panel.locator(".tr-chart").get_attribute("data-points"))
    first_pixels = curve_pixels(page)
    assert first_pixels > 10, "the training curve should be drawn on the chart"
    first_iteration = int(panel_data(page, "iteration"))
    assert f"iteration {first_iteration}" in panel.locator(".tr-current").inner_text()
    assert (
        "it/s" in panel.locator(".tr-speed").inner_text()
        or "s/it" in panel.locator(".tr-speed").inner_text()
    )

    wait_panel(page, f"Number(p.dataset.iteration) >= {first_iteration + 5}")
    page.wait_for_function(
        f"() => Number(document.querySelector('.tr-chart').dataset.points) >= {first_points + 5}",
        timeout=TIMEOUT_MS,
    )
    later_points, first, last = chart_state(page)
    assert later_points > first_points
    assert last - first + 1 == later_points, "every iteration is on the chart, no gaps"
    assert panel.locator(".tr-stop").is_enabled() and train.is_disabled()
    watch_from_another_browser(browser, server, later_points)
    live_preview_shows_and_hides(page)

    panel.locator(".tr-pause").click()
    wait_panel(page, "p.dataset.state === 'paused'")
    paused_at = int(panel_data(page, "iteration"))
    time.sleep(2.0)
    assert int(panel_data(page, "iteration")) == paused_at, "iterations must stop while paused"
    assert panel.locator(".tr-resume").is_enabled() and panel.locator(".tr-pause").is_disabled()
    assert f"iteration {paused_at}" in panel.locator(".tr-current").inner_text()

    panel.locator(".tr-stop").click()
    wait_panel(page, "p.dataset.state === 'stopped'")
    assert panel.locator(".tr-badge").inner_text().lower() == "stopped"
    assert panel.locator(".tr-continue").is_enabled() and train.is_enabled()
    # The final value stays next to the architecture name.
    assert "loss" in panel.locator(".tr-current").inner_text()
    assert panel.locator(".tr-arch-name").inner_text().startswith("U-Net")

    apps = server.get("/api/apps").json()
    assert len(apps) == 1 and apps[0]["architecture"] == "unet"
    page.wait_for_function(
        "() => document.querySelectorAll('#inference-panel .inf-apps .listbox-item').length === 1",
        timeout=TIMEOUT_MS,
    )

    # Continue picks the run up from its checkpoint: the counter goes on, the chart too.
    stopped_at = int(panel_data(page, "iteration"))
    panel.locator(".tr-continue").click()
    page.locator(".tr-continue-ok").click()  # the dialog offers the rest of the plan
    wait_panel(page, f"p.dataset.state === 'running' && Number(p.dataset.iteration) > {stopped_at}")
    page.wait_for_function(
        f"() => Number(document.querySelector('.tr-chart').dataset.lastIteration) > {stopped_at}",
        timeout=TIMEOUT_MS,
    )
    points, first, last = chart_state(page)
    assert first == 1 and last - first + 1 == points, "history kept, no gaps after continue"
    panel.locator(".tr-stop").click()
    wait_panel(page, "p.dataset.state === 'stopped'")


def test_refusals_are_explained(page, server_factory):
    """Settings the server refuses are marked per field; a missing label says what to do."""
    server = server_factory()
    label_demo_slide(server)
    assert server.post("/api/classes", json={"name": "Tumour", "color": "#8000ff"}).ok
    open_app(page, server)
    open_slide(page)
    panel = page.locator("#training-panel")
    panel.locator(".tr-train").wait_for(timeout=TIMEOUT_MS)
    panel.locator("input[name=patch_size]").fill("100")  # not a multiple of 32
    panel.locator(".tr-advanced").click()
    dialog = page.locator("dialog.tr-dialog")
    dialog.locator("input[name=seed]").fill("-1")
    dialog.locator(".tr-close").click()
    panel.locator(".tr-train").click()
    error = panel.locator("[data-field=patch_size] .tr-field-error")
    error.wait_for(timeout=TIMEOUT_MS)
    assert "multiple of 32" in error.inner_text()
    assert dialog.is_visible(), "advanced errors open the dialog"
    assert "at least 0" in dialog.locator("[data-field=seed] .tr-field-error").inner_text()
    assert server.get("/api/training").json() == []
    assert panel_data(page, "state") == "idle"

    # Fix the settings, then train Tissue against a class nobody painted.
    dialog.get_by_role("button", name="Reset to defaults").click()
    dialog.locator(".tr-close").click()
    panel.locator("input[name=patch_size]").fill("64")
    panel.locator(".tr-classes-picker summary").click()
    panel.locator(".tr-check", has_text="Background").locator("input").uncheck()
    panel.locator(".tr-check", has_text="Tumour").locator("input").check()
    panel.locator(".tr-train").click()
    error = panel.locator(".tr-error")
    error.wait_for(timeout=TIMEOUT_MS)
    assert "Only one class ('Tissue') is labelled" in error.inner_text()
    assert "Paint another class" in error.locator(".tr-hint").inner_text()
    assert panel.locator("[data-field=patch_size] .tr-field-error").inner_text() == ""
    assert server.get("/api/training").json() == []


# The validation line's colour (frontend/src/training/chart.ts VALIDATION_COLOR).
VALIDATION_RGB = (0xFF, 0x8A, 0x3D)


def loss_text(value: float) -> str:
    """A loss as the UI writes it (formatMetric: 4 significant digits, trailing zeros kept)."""
    return f"{value:#.4g}" if value >= 0.001 else f"{value:.2e}".replace("e-0", "e-")


def tiny_run_in_panel(page, iterations: int):
    """The training panel, once both labelled classes are chosen, filled with a TINY run."""
    panel = page.locator("#training-panel")
    panel.locator(".tr-train").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelectorAll('#training-panel .tr-classes input:checked').length === 2",
        timeout=TIMEOUT_MS,
    )
    for name, value in {**TINY, "iterations": iterations}.items():
        panel.locator(f"input[name={name}]").fill(str(value))
    return panel


def test_heading_app_card_and_chart_state_one_final_value_and_validate_by_default(
    page, server_factory
):
    """Default settings hold out a validation set: the chart draws its line, and the run's
    heading, the app card and the chart legend all show the same final value."""
    server = server_factory()
    label_demo_slide(server)
    open_app(page, server)
    open_slide(page)
    panel = tiny_run_in_panel(page, 60)
    # The advanced settings are left at their defaults: a hold-out, the best weights kept.
    panel.locator(".tr-advanced").click()
    dialog = page.locator("dialog.tr-dialog")
    assert dialog.locator("input[name=validation_fraction]").input_value() == "0.15"
    assert dialog.locator("select[name=keep_weights]").input_value() == "best"
    dialog.locator(".tr-close").click()

    panel.locator(".tr-train").click()
    page.wait_for_function(
        "() => document.getElementById('training-panel').dataset.state === 'completed'",
        timeout=TIMEOUT_MS * 8,
    )
    run_id = server.get("/api/training").json()[0]["id"]
    run = server.get(f"/api/training/{run_id}").json()
    final = run["final"]
    assert run["settings"]["validation_fraction"] == 0.15 and run["warnings"] == []
    loss, error = loss_text(final["loss"]), f"{final['error_rate'] * 100:.1f} %"
    said = (
        f"loss {loss} · error {error} (mean of last {final['over']} it.; "
        f"last {loss_text(final['last_loss'])} · {final['last_error_rate'] * 100:.1f} %)"
    )
    assert final["over"] == 10 and final["iteration"] == 60

    # The heading next to the architecture name.
    heading = panel.locator(".tr-current .tr-final")
    page.wait_for_function(
        f"() => document.querySelector('#training-panel .tr-final')?.dataset.loss === '{loss}'",
        timeout=TIMEOUT_MS,
    )
    assert heading.inner_text() == f"final {said}"
    assert "iteration 60 / 60" in panel.locator(".tr-current").inner_text()
    # The app card of the app the run made.
    card = page.locator("#inference-panel .inf-app-final")
    card.wait_for(timeout=TIMEOUT_MS)
    assert card.inner_text() == said
    assert card.get_attribute("data-loss") == heading.get_attribute("data-loss") == loss
    # The chart: the final value's line and its legend, for both curves.
    chart = panel.locator(".tr-chart")
    assert chart.get_attribute("data-final-loss") == loss
    legend = panel.locator(".tr-chart .tr-final-legend")
    assert legend.inner_text() == f"final {loss} (mean of last 10 it.)"
    panel.locator(".tr-metric").select_option("error_rate")
    page.wait_for_function(
        f"() => document.querySelector('.tr-chart .tr-final-legend').textContent"
        f" === 'final {error} (mean of last 10 it.)'",
        timeout=TIMEOUT_MS,
    )
    assert chart.get_attribute("data-final-error-rate") == error
    assert heading.get_attribute("data-error-rate") == card.get_attribute("data-error-rate")
    panel.locator(".tr-metric").select_option("loss")

    # Validation by default: its line is drawn (iterations 25, 50 and 60).
    assert chart.get_attribute("data-validation-points") == "3"
    page.wait_for_timeout(300)
    assert curve_pixels(page, VALIDATION_RGB) > 10, "the validation line should be drawn"
    # Which weights the app kept, and their validation per class with the confusion matrix.
    kept = run["weights_from_iteration"]
    assert kept in (25, 50, 60) and kept == run["validation"]["iteration"]
    assert panel.locator(".tr-weights-from").get_attribute("data-iteration") == str(kept)
    assert page.locator("#inference-panel .inf-app-weights").get_attribute("data-iteration") == str(
        kept
    )
    table = panel.locator(".tr-validation .tr-val-classes")
    assert table.is_visible()
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    first = run["validation"]["classes"][0]
    assert rows.nth(0).locator("td").all_inner_texts() == [
        f"{first[k]:.3f}" for k in ("iou", "dice", "precision", "recall")
    ]
    confusion = panel.locator(".tr-validation .tr-confusion tbody tr")
    assert [confusion.nth(i).locator("td").all_inner_texts() for i in range(2)] == [
        [str(v) for v in row] for row in run["validation"]["confusion"]
    ]


def test_preparation_is_shown_and_sampling_is_an_advanced_group(page, server_factory):
    """The panel says what a run prepares ("Preparing labels… 1/1") before it trains, then how
    long that took; the Advanced dialog has an "Input and sampling" group whose class balance
    reaches the run."""
    server = server_factory()
    slide_id, class_ids = label_demo_slide(server)
    open_app(page, server)
    open_slide(page)
    panel = tiny_run_in_panel(page, 8)
    panel.locator(".tr-advanced").click()
    dialog = page.locator("dialog.tr-dialog")
    group = dialog.locator("fieldset[data-group=sampling]")
    assert group.locator("legend").inner_text() == "Input and sampling"
    assert group.locator("input[name=class_balance]").input_value() == "1"
    assert group.locator("input[name=label_passes]").input_value() == "0"
    help_text = group.locator("[data-field=class_balance] .tr-help").inner_text()
    assert "uniform over labelled pixels" in help_text
    group.locator("input[name=class_balance]").fill("0.5")
    dialog.locator(".tr-close").click()

    # Another run holds the device, so this one is watched from before it prepares.
    body = {"slides": [slide_id], "classes": class_ids, "settings": {**TINY, "iterations": 5000}}
    blocker = server.post("/api/training", json=body).json()["run_id"]
    page.evaluate(
        """() => {
            const speed = document.querySelector('#training-panel .tr-speed');
            window.__speedTexts = [];
            new MutationObserver(() => window.__speedTexts.push(speed.textContent))
                .observe(speed, {childList: true, characterData: true, subtree: true});
        }"""
    )
    panel.locator(".tr-train").click()
    wait_panel(page, "p.dataset.state === 'queued'")
    server.post(f"/api/training/{blocker}/stop")
    wait_panel(page, "p.dataset.state === 'completed'")
    texts = page.evaluate("() => window.__speedTexts")
    preparing = [t for t in texts if t.startswith(("Preparing", "Reading", "Building"))]
    assert preparing, f"no preparation shown: {texts}"
    assert any(t.startswith("Preparing labels… ") and t.endswith("/1") for t in preparing)
    trained = [t for t in texts if "prepared in" in t]
    assert trained and texts.index(trained[0]) > texts.index(preparing[-1])
    run = next(r for r in server.get("/api/training").json() if r["id"] != blocker)
    assert run["settings"]["class_balance"] == 0.5 and run["prepare_s"] > 0
    assert f"prepared in {run['prepare_s']:.1f} s" in texts[-1]


def test_every_advanced_setting_has_help_and_says_when_it_does_nothing(page, server_factory):
    """Each field of the Advanced dialog has a line of help (with units where it has any),
    a field that does nothing in the current combination says so, and "ImageNet" says
    whether the weights are in the local cache."""
    server = server_factory()
    options = server.get("/api/training/options").json()
    open_app(page, server)
    open_slide(page)
    page.locator("#training-panel .tr-advanced").click()
    dialog = page.locator("dialog.tr-dialog")
    rows = dialog.locator(".tr-row[data-field]:visible")
    assert rows.count() >= 25
    for i in range(rows.count()):
        row = rows.nth(i)
        field = row.get_attribute("data-field")
        shown = row.locator(".tr-help").inner_text()
        assert shown == options["help"][field], field
    assert "±7°" in dialog.locator("[data-field='augmentation.hue'] .tr-help").inner_text()

    interval = dialog.locator("[data-field=validation_interval]")
    assert interval.get_by_test_id("inactive-note").is_hidden()
    dialog.locator("input[name=validation_fraction]").fill("0")
    dialog.locator("input[name=validation_fraction]").dispatch_event("change")
    assert "hold-out is 0" in interval.get_by_test_id("inactive-note").inner_text()
    assert "tr-row-inactive" in interval.get_attribute("class")
    keep = dialog.locator("[data-field=keep_weights]").get_by_test_id("inactive-note")
    assert "keeps the last weights" in keep.inner_text()
    dialog.locator("input[name=validation_fraction]").fill("0.2")
    dialog.locator("input[name=validation_fraction]").dispatch_event("change")
    assert interval.get_by_test_id("inactive-note").is_hidden()

    imagenet = dialog.locator("select[name=encoder_weights] option[value=imagenet]")
    encoder = options["defaults"]["encoder"]
    cached = encoder in options["imagenet_cached"]
    expected = "in the local cache" if cached else "not in the local cache"
    assert expected in imagenet.inner_text() and encoder in imagenet.inner_text()
