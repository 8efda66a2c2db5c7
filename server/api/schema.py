"""The OpenAPI 3.1 document of slidelab's HTTP API, served at `GET /api/openapi.json`.

Written from the routes in server/api/ and the checks of the domain code they call. Limits,
choices and training settings are read from the code's own constants, so they cannot drift
from what the server enforces. tests/test_openapi.py checks that every Flask route is here
with exactly its methods (`flask_path` turns a Flask rule into an OpenAPI path), that the
document is valid OpenAPI 3.1, and that a real server's answers match the response schemas.
The Socket.IO events are described in the `x-socketio` extension.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from typing import Any, cast

from server import __version__
from server.annotations.classes import MAX_CLASSES, MAX_NAME_LENGTH
from server.annotations.edits import MAX_CLIENT_ID, MAX_EDIT_POINTS, SHAPE_ACTIONS
from server.annotations.geojson import IMPORT_POINT_LIMIT
from server.annotations.masks import MAX_DOWNSAMPLE, MAX_MASK_PIXELS
from server.api.apps import MAX_IMPORT_BYTES
from server.api.results import MODES
from server.apps import APP_FILE_SUFFIX
from server.config import Config
from server.inference.measurements import COLUMNS as OBJECT_COLUMNS
from server.inference.regions import KINDS
from server.inference.viewing import EXPORTS, RESOLUTIONS
from server.measure.postprocess import MAX_STEPS, MEASURES
from server.training import settings as training_settings
from server.training.runs import (
    ACTIVE,
    CONTINUABLE,
    FAILED,
    PREPARE_STEPS,
    PREPARING,
    TRAINING,
)

Schema = dict[str, Any]

# Flask routes that are not part of the API, with the reason (the test checks this list too).
UNDOCUMENTED_ROUTES = {
    "/": "the single-page app's HTML",
    "/assets/<path:filename>": "the single-page app's scripts and styles",
    "/<path:filename>": "static files of the single-page app (icons, viewer images)",
    "/tensorboard/<path:path>": (
        "TensorBoard's own pages and data API below /tensorboard/ (documented as one entry, "
        "/tensorboard/); its path parameter spans slashes, which OpenAPI paths cannot express"
    ),
}
RUN_STATES = ("queued", "running", "paused", "stopped", "completed", "failed", "interrupted")
RESULT_STATES = ("queued", "running", "completed", "failed", "cancelled")
CONTROL_ACTIONS = ("pause", "resume", "stop", "continue")
MAX_CONTINUE_ITERATIONS = 10_000_000
DEFAULT_MAX_BODY = cast(
    int, next(f.default for f in dataclasses.fields(Config) if f.name == "max_request_bytes")
)
MiB = 1 << 20

_CONVERTER = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>")


def flask_path(rule: str) -> str:
    """The OpenAPI path of a Flask rule: `<int:class_id>` becomes `{class_id}`."""
    return _CONVERTER.sub(r"{\1}", rule)


# ---- schema helpers -----------------------------------------------------------------------


def ref(name: str) -> Schema:
    """A reference to a schema in components."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or null."""
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(
    properties: dict[str, Schema],
    required: tuple[str, ...] | list[str] = (),
    description: str | None = None,
    closed: bool = False,
) -> Schema:
    """An object schema; `closed` when the server refuses unknown keys."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def array(items: Schema, description: str | None = None, **limits: int) -> Schema:
    """An array schema (`minItems=`, `maxItems=` as keywords)."""
    schema: Schema = {"type": "array", "items": items, **limits}
    if description:
        schema["description"] = description
    return schema


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
POSTPROCESSING_KEY = {
    "type": "string",
    "description": "the result's app's post-processing steps now (App.postprocessing_key); the "
    "classes overlay, stats and exports of a completed result show the labels after them",
}
BOOLEAN = {"type": "boolean"}
COLOR = {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$", "description": "#rrggbb"}
POSITION = array(NUMBER, "[x, y] in level-0 pixels", minItems=2, maxItems=2)
BBOX = array(
    NUMBER,
    "[x, y, width, height] in level-0 pixels; width and height above 0",
    minItems=4,
    maxItems=4,
)


# ---- component schemas ---------------------------------------------------------------------


def _error_schemas() -> dict[str, Schema]:
    return {
        "Error": obj(
            {
                "error": {"type": "string", "description": "what went wrong, for people"},
                "hint": {"type": "string", "description": "what to do about it"},
                "fields": {
                    "type": "object",
                    "additionalProperties": STRING,
                    "description": "per request field (`augmentation.hue`), what is wrong",
                },
                "id": {
                    "type": "string",
                    "description": "500 only: the id the server log shows with the traceback",
                },
            },
            ["error"],
            "Every error answer. `hint` is left out when there is none.",
        ),
        "JobError": obj(
            {"message": STRING, "hint": nullable(STRING)},
            ["message"],
            "Why a training run or an inference failed.",
        ),
        "Deleted": obj(
            {"deleted": {"type": ["string", "integer"], "description": "the id"}}, ["deleted"]
        ),
    }


def _slide_schemas() -> dict[str, Schema]:
    summary = {
        "id": {"type": "string", "description": "stable, opaque (16 hex digits)"},
        "name": {"type": "string", "description": "file (or DICOM folder) name"},
        "path": {"type": "string", "description": "path relative to its slide folder"},
        "readable": BOOLEAN,
        "error": nullable({"type": "string", "description": "why it cannot be read"}),
        "width": nullable({"type": "integer", "description": "level-0 width in pixels"}),
        "height": nullable({"type": "integer", "description": "level-0 height in pixels"}),
        "mpp": nullable({"type": "number", "description": "µm per level-0 pixel"}),
        "objective_power": nullable(NUMBER),
        "vendor": nullable(STRING),
        "levels": nullable({"type": "integer", "description": "OpenSlide levels"}),
    }
    detail = {
        **summary,
        "level_dimensions": array(array(INTEGER, minItems=2, maxItems=2)),
        "level_downsamples": array(NUMBER),
        "associated": array(STRING, "names for /api/slides/{slide_id}/associated/{name}"),
        "properties": {
            "type": "object",
            "additionalProperties": STRING,
            "description": "every OpenSlide property",
        },
        "deepzoom": obj(
            {
                "tile_size": INTEGER,
                "overlap": INTEGER,
                "levels": INTEGER,
                "bounds": nullable(
                    array(INTEGER, "non-empty area [x, y, w, h], level 0", minItems=4, maxItems=4)
                ),
            },
            ["tile_size", "overlap", "levels", "bounds"],
        ),
    }
    return {
        "Slide": obj(
            summary,
            list(summary),
            "A slide as listed; the size fields are null when it cannot be read.",
        ),
        "SlideDetail": obj(detail, list(detail)),
    }


def _class_schemas() -> dict[str, Schema]:
    name = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
    return {
        "Class": obj(
            {
                "id": INTEGER,
                "name": STRING,
                "color": COLOR,
                "position": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "place in the order; label value in masks = position + 1",
                },
            },
            ["id", "name", "color", "position"],
        ),
        "ClassCreate": obj(
            {
                "name": {
                    **name,
                    "description": "unique, case-insensitively; spaces around it are trimmed",
                },
                "color": {**COLOR, "description": "#rrggbb; the next palette colour if left out"},
            },
            ["name"],
            f"At most {MAX_CLASSES} classes exist at once (label masks are uint8).",
        ),
        "ClassUpdate": obj({"name": name, "color": COLOR}),
        "ClassOrder": obj(
            {"ids": array(INTEGER, "every class id exactly once, in the new order")}, ["ids"]
        ),
    }


def _geojson_schemas() -> dict[str, Schema]:
    ring = array(POSITION, "closed ring: the last position repeats the first", minItems=4)
    return {
        "Polygon": obj(
            {"type": {"const": "Polygon"}, "coordinates": array(ring)}, ["type", "coordinates"]
        ),
        "MultiPolygon": obj(
            {"type": {"const": "MultiPolygon"}, "coordinates": array(array(ring))},
            ["type", "coordinates"],
        ),
        "LabelFeature": obj(
            {
                "type": {"const": "Feature"},
                "id": {"type": "string", "pattern": "^class-[0-9]+$"},
                "geometry": ref("MultiPolygon"),
                "properties": obj(
                    {
                        "kind": {"const": "label"},
                        "class_id": INTEGER,
                        "name": STRING,
                        "color": COLOR,
                        "area_px": NUMBER,
                        "area_um2": nullable(NUMBER),
                    },
                    ["kind", "class_id", "name", "color", "area_px", "area_um2"],
                ),
            },
            ["type", "id", "geometry", "properties"],
            "All labels of one class on the slide. The polygons are cut along a 256-pixel "
            "grid, so two of them may share an edge: fill them as one path.",
        ),
        "RoiFeature": obj(
            {
                "type": {"const": "Feature"},
                "id": {"type": "string", "pattern": "^roi-[0-9]+$"},
                "geometry": ref("Polygon"),
                "properties": obj(
                    {"kind": {"const": "roi"}, "roi_id": INTEGER}, ["kind", "roi_id"]
                ),
            },
            ["type", "id", "geometry", "properties"],
        ),
        "LabelPartFeature": obj(
            {
                "type": {"const": "Feature"},
                "id": {
                    "type": "string",
                    "pattern": "^label-[0-9]+-[0-9]+-[0-9]+-[0-9a-f]{16}$",
                    "description": "label-<class>-<cx>-<cy>-<hash of the polygon>: a polygon "
                    "that does not change keeps its id",
                },
                "geometry": ref("Polygon"),
                "properties": obj(
                    {
                        "kind": {"const": "label"},
                        "class_id": INTEGER,
                        "cell": array(
                            INTEGER, "grid cell [cx, cy] of 256 px", minItems=2, maxItems=2
                        ),
                        "area_px": NUMBER,
                    },
                    ["kind", "class_id", "cell", "area_px"],
                ),
            },
            ["type", "id", "geometry", "properties"],
            "One polygon of a class inside one 256-pixel grid cell. Polygons of a class in "
            "neighbouring cells may share an edge: fill a class's polygons as one path.",
        ),
        "AnnotationFeature": {"oneOf": [ref("LabelFeature"), ref("RoiFeature")]},
        "ChangeFeature": {"oneOf": [ref("LabelPartFeature"), ref("RoiFeature")]},
        "QuPathFeature": obj(
            {
                "type": {"const": "Feature"},
                "id": STRING,
                "geometry": {"oneOf": [ref("Polygon"), ref("MultiPolygon")]},
                "properties": obj(
                    {
                        "objectType": {"const": "annotation"},
                        "name": STRING,
                        "classification": obj(
                            {"name": STRING, "color": array(INTEGER, minItems=3, maxItems=3)},
                            ["name", "color"],
                        ),
                        "isLocked": BOOLEAN,
                        "kind": {"const": "roi"},
                        "roi_id": INTEGER,
                    },
                    ["objectType", "classification"],
                ),
            },
            ["type", "geometry", "properties"],
            "A QuPath annotation; ROIs have classification `ROI` and `kind: roi`.",
        ),
        "QuPathCollection": obj(
            {"type": {"const": "FeatureCollection"}, "features": array(ref("QuPathFeature"))},
            ["type", "features"],
        ),
    }


def _annotation_schemas() -> dict[str, Schema]:
    undo = {
        "version": {"type": "integer", "description": "grows with every change of the slide"},
        "can_undo": BOOLEAN,
        "can_redo": BOOLEAN,
    }
    client_id = {
        "type": "string",
        "maxLength": MAX_CLIENT_ID,
        "description": "echoed in the `annotations:changed` event, so a client can skip its own",
    }
    points = {
        "type": "array",
        "items": POSITION,
        "maxItems": MAX_EDIT_POINTS,
        "description": f"level-0 pixel positions; more than {MAX_EDIT_POINTS} answer 413",
    }

    def edit(tool: str, description: str, with_class: bool, with_radius: bool) -> Schema:
        props: dict[str, Schema] = {
            "tool": {"const": tool},
            "points": {**points, "minItems": 1 if with_radius else 3},
            "client_id": client_id,
        }
        required = ["tool", "points"]
        if with_class:
            props["class_id"] = {"type": "integer", "description": "an existing class"}
            required.append("class_id")
        if with_radius:
            props["radius"] = {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "level-0 pixels; at most the slide's longer side",
            }
            required.append("radius")
        return obj(props, required, description)

    total = obj(
        {
            "class_id": INTEGER,
            "name": STRING,
            "color": COLOR,
            "area_px": NUMBER,
            "area_um2": nullable(NUMBER),
        },
        ["class_id", "name", "color", "area_px", "area_um2"],
        "A class's labelled area on the slide after the change (0 when it has none left).",
    )
    bounds = nullable(
        array(NUMBER, "[minx, miny, maxx, maxy] in level-0 px", minItems=4, maxItems=4)
    )
    return {
        "ClassTotal": total,
        "AnnotationCollection": obj(
            {
                "type": {"const": "FeatureCollection"},
                "form": {"enum": ["classes", "parts"]},
                **undo,
                "classes": array(ref("ClassTotal"), "form=parts: each labelled class's total"),
                "features": array(
                    {"oneOf": [ref("LabelFeature"), ref("LabelPartFeature"), ref("RoiFeature")]}
                ),
                "skipped": array(STRING, "PUT only: features of the file that were left out"),
            },
            ["type", "form", "version", "can_undo", "can_redo", "features"],
            "Labels and ROIs of one slide: with form=classes one feature per class (in class "
            "order), with form=parts one per polygon and grid cell (the ids edits answer "
            "with), plus `classes`.",
        ),
        "EditRequest": {
            "oneOf": [
                edit("brush", "Paint the stroke (polyline + radius) with a class.", True, True),
                edit("eraser", "Remove every label under the stroke.", False, True),
                edit(
                    "polygon",
                    "Fill the polygon with a class (self-crossings are repaired).",
                    True,
                    False,
                ),
                edit("roi", "Add a region of interest (clipped to the slide).", False, False),
                ref("ShapeEditRequest"),
            ],
            "description": "Painting a class takes the area from every other class.",
        },
        "ShapeEditRequest": obj(
            {
                "tool": {"const": "shape"},
                "at": {**POSITION, "description": "a point of the shape, level-0 pixels"},
                "action": {"enum": list(SHAPE_ACTIONS)},
                "class_id": {
                    "type": "integer",
                    "description": "recolor: the new class (required); replace: the class "
                    "to paint the new outline with (default: the shape's own)",
                },
                "points": {
                    **points,
                    "minItems": 3,
                    "description": "replace: the new outline as one ring (or use geometry)",
                },
                "geometry": {
                    **ref("Polygon"),
                    "description": "replace: the new outline with its holes (a GeoJSON "
                    "Polygon, level-0 pixels)",
                },
                "client_id": client_id,
            },
            ["tool", "at", "action"],
            "Act on the whole connected shape of the label under `at` (what GET "
            "…/annotations/shape answers): delete it, recolor it to `class_id`, or replace it "
            "by a new outline (vertex edits), painted as the polygon tool paints. One undo "
            "step; 404 when no label covers `at`; recolor to its own class changes nothing.",
        ),
        "LabelShape": obj(
            {
                "class_id": INTEGER,
                "name": STRING,
                "color": COLOR,
                "polygon": ref("Polygon"),
                "area_px": {"type": "number", "description": "level-0 px²"},
                "area_um2": nullable(NUMBER),
                "bounds": array(NUMBER, "[minx, miny, maxx, maxy]", minItems=4, maxItems=4),
                "vertices": {"type": "integer", "description": "vertices of all its rings"},
                "version": {"type": "integer", "description": "the slide's annotation version"},
            },
            ["class_id", "polygon", "area_px", "area_um2", "bounds", "vertices", "version"],
            "One annotation as the user sees it: the connected region of one class under a "
            "point (its polygons merged across grid cells; touching at a corner only is "
            "not connected).",
        ),
        "EditAnswer": obj(
            {
                **undo,
                "features": array(
                    ref("ChangeFeature"), "the label polygons and ROIs the change added"
                ),
                "removed": array(
                    STRING, "ids (`label-3-0-1-…`, `roi-7`) of features the change removed"
                ),
                "classes": array(ref("ClassTotal"), "every class whose labels changed"),
                "bounds": {**bounds, "description": "box of the label polygons that changed"},
            },
            ["version", "can_undo", "can_redo", "features", "removed", "classes", "bounds"],
            "The change only, sent once it is committed: its size does not grow with the "
            "labels already on the slide. Apply it to the form=parts collection.",
        ),
        "ClientId": obj({"client_id": client_id}),
        "GeoJSONImport": {
            "anyOf": [
                obj(
                    {"type": {"const": "FeatureCollection"}, "features": {"type": "array"}},
                    ["type", "features"],
                ),
                obj({"type": {"const": "Feature"}}, ["type"]),
                {"type": "array", "description": "a list of Features"},
            ],
            "description": (
                "GeoJSON in level-0 pixels: a FeatureCollection, one Feature or a list of "
                "Features. A feature's class is `properties.classification.name` (QuPath; "
                "`names` of a derived class are joined with ': '), or `properties.name` when "
                "`properties.kind` is `label` (slidelab's own GET form). Colour from "
                "`classification.color` ([r, g, b]), `colorRGB` (packed int) or `color` "
                "(#rrggbb). Features with `kind: roi` or classification `ROI` become ROIs. "
                f"At most {IMPORT_POINT_LIMIT:,} points in all (413 beyond)."
            ),
        },
        "AnnotationSummary": obj(
            {
                "version": INTEGER,
                "classes": array(
                    obj(
                        {
                            "class_id": INTEGER,
                            "name": STRING,
                            "area_px": {"type": "number", "description": "level-0 px²"},
                            "area_um2": nullable(NUMBER),
                        },
                        ["class_id", "name", "area_px", "area_um2"],
                    )
                ),
                "rois": {"type": "integer", "description": "how many ROIs"},
            },
            ["version", "classes", "rois"],
        ),
    }


def _number_schema(number: training_settings.Number) -> Schema:
    schema: Schema = {"type": "integer" if number.integer else "number"}
    schema["exclusiveMinimum" if number.open_low else "minimum"] = _plain(number.low)
    schema["maximum"] = _plain(number.high)
    if number.multiple_of:
        schema["multipleOf"] = number.multiple_of
    return schema


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


SETTING_NOTES = {
    "class_balance": "Input and sampling: how patch centres are drawn. A class is chosen with "
    "probability ∝ its labelled training pixels^(1 − class_balance), then a labelled pixel of "
    "it: 1 = every class equally often, 0 = uniform over labelled pixels",
    "label_passes": "Input and sampling: 0 = train `iterations`. Above 0 the run sets its "
    "iterations once it has read the labels: ceil(label_passes × labelled training pixels ÷ "
    "(batch_size × patch_size²)), at most `iterations`",
    "context_scale": "Input and sampling: 0 = off; 2 or 4 = the network also sees a second view "
    "around each patch, that many times its field of view, centred on it and resampled to the "
    "patch size (a 6-channel input: the patch's RGB, then the view's). The app records it and "
    "Apply gives every window of the patch size the same view",
}


def _settings_schema() -> Schema:
    """Training settings, from the validation tables in server/training/settings.py."""
    cpu, cuda = training_settings.defaults("cpu"), training_settings.defaults("cuda")
    props: dict[str, Schema] = {}
    for key in cpu:
        if key in training_settings.NUMBERS:
            props[key] = _number_schema(training_settings.NUMBERS[key])
        elif key in training_settings.CHOICES:
            props[key] = {"enum": list(training_settings.CHOICES[key])}
        elif key in training_settings.FLAGS:
            props[key] = BOOLEAN
        if key in props and cpu[key] == cuda[key]:
            props[key]["default"] = cpu[key]
        elif key in props:
            props[key]["description"] = f"default: {cpu[key]} on a CPU, {cuda[key]} on CUDA"
    props["encoder"] = {
        "type": "string",
        "minLength": 1,
        "description": "one of the architecture's encoders (GET /api/training/options); "
        "its default encoder when left out",
    }
    props["weights_file"] = {
        **nullable(STRING),
        "description": "a .safetensors file of encoder weights, for encoder_weights = file",
    }
    props["class_weights"] = {
        "anyOf": [
            {"type": "null"},
            array({"type": "number", "minimum": 0}, "one weight per trained class, in order"),
            {
                "type": "object",
                "additionalProperties": {"type": "number", "minimum": 0},
                "description": "class id → weight",
            },
        ],
        "description": "for class_weighting = manual; at least one weight above 0",
    }
    props["augmentation"] = _augmentation_schema(cpu["augmentation"])
    for key, text in training_settings.HELP.items():  # the Advanced dialog's help, too
        if key in props:
            device_note = props[key].get("description")
            text = SETTING_NOTES.get(key, text)
            props[key]["description"] = f"{text} ({device_note})" if device_note else text
    return obj(
        props,
        description=(
            "Omitted settings take the device's defaults (GET /api/training/options). Unknown "
            "keys are refused. Each problem is reported in the 400 answer's `fields`."
        ),
        closed=True,
    )


def _augmentation_schema(defaults: dict) -> Schema:
    props: dict[str, Schema] = {}
    for key, value in defaults.items():
        if key in training_settings.AUGMENT_FLAGS:
            props[key] = {**BOOLEAN, "default": value}
        else:
            number = training_settings.AUGMENT_NUMBERS[key]
            props[key] = {**_number_schema(number), "default": value}
        props[key]["description"] = training_settings.HELP[f"augmentation.{key}"]
    return obj(props, closed=True)


def _training_schemas() -> dict[str, Schema]:
    point = obj(
        {
            "iteration": {"type": "integer", "description": "1-based"},
            "loss": NUMBER,
            "error_rate": {"type": "number", "description": "fraction of labelled pixels wrong"},
            "lr": NUMBER,
            "time": {"type": "number", "description": "when it ended, Unix seconds"},
            "val_loss": {"type": "number", "description": "only where validated"},
            "val_error_rate": NUMBER,
        },
        ["iteration", "loss", "error_rate", "lr", "time"],
    )
    class_info = obj(
        {"index": INTEGER, "id": nullable(INTEGER), "name": STRING, "color": COLOR},
        ["index", "name", "color"],
        "A class of a model: `index` is its output channel.",
    )
    run: dict[str, Schema] = {
        "id": STRING,
        "state": {"enum": list(RUN_STATES)},
        "settings": ref("TrainingSettings"),
        "slides": array(obj({"id": STRING, "name": STRING}, ["id", "name"])),
        "classes": array(INTEGER, "class ids, in model channel order"),
        "class_info": array(ref("ModelClass")),
        "iteration": INTEGER,
        "iterations": {"type": "integer", "description": "the target"},
        "checkpoint_iteration": INTEGER,
        "app_id": nullable({"type": "string", "description": "the app it made, once stopped"}),
        "error": nullable(ref("JobError")),
        "it_per_s": nullable(NUMBER),
        "eta_s": nullable(NUMBER),
        "duration_s": {"type": "number", "description": "seconds run, preparation included"},
        "prepare_s": {
            "type": "number",
            "description": "seconds spent preparing (merging labels, reading and rasterising "
            "the labelled regions, building the model), over every start of the run",
        },
        **_phase_properties(),
        "device": STRING,
        "created": {"type": "number", "description": "Unix seconds"},
        "updated": NUMBER,
        "history": array(ref("HistoryPoint"), "GET /api/training/{run_id} only"),
        **_outcome_properties(),
        "warnings": array(
            STRING,
            "things to know: a validation hold-out that had to shrink or be dropped (few "
            "labels), over-fitting (validation error rising over the last 3 validations "
            "while the training loss falls), no validation at all",
        ),
    }
    return {
        "TrainingSettings": _settings_schema(),
        "HistoryPoint": point,
        "FinalValues": _final_schema(),
        "PrepareProgress": _progress_schema(),
        "Validation": _validation_schema(),
        "ModelClass": class_info,
        "TrainingRequest": obj(
            {
                "slides": array(STRING, "slide ids (readable, with a µm/px)", minItems=1),
                "classes": array(
                    INTEGER,
                    "class ids to train, at least two of them labelled; every class labelled "
                    "on the slides when empty or left out",
                ),
                "settings": ref("TrainingSettings"),
            },
            ["slides"],
        ),
        "Run": obj(
            run,
            [k for k in run if k != "history"],
            "A training run. queued → running ⇄ paused → completed | stopped | failed; runs "
            "a stopped server left become interrupted.",
        ),
        "RunStarted": {
            "allOf": [ref("Run")],
            "properties": {"run_id": STRING},
            "required": ["run_id"],
            "description": "The new run, with its id also as `run_id`.",
        },
        "RunControl": obj(
            {
                "iterations": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_CONTINUE_ITERATIONS,
                    "description": "continue only: how many more iterations (from the last "
                    "checkpoint); needed when the run has done all its iterations",
                },
                "learning_rate": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 1,
                    "description": "continue only: the base learning rate from now on "
                    "(the run's own when absent); the schedule goes on from the checkpoint",
                },
            }
        ),
        "TrainingOptions": obj(
            {
                "device": {"type": "string", "description": "cpu or cuda"},
                "defaults": ref("TrainingSettings"),
                "architectures": array(
                    obj(
                        {
                            "name": STRING,
                            "label": STRING,
                            "encoders": array(STRING),
                            "default_encoder": STRING,
                            "cpu_warning": STRING,
                        },
                        ["name", "label", "encoders", "default_encoder"],
                    )
                ),
                "encoders": array(STRING),
                "choices": {"type": "object", "additionalProperties": array(STRING)},
                "mpp_presets": array(obj({"label": STRING, "mpp": NUMBER}, ["label", "mpp"])),
                "help": {
                    "type": "object",
                    "additionalProperties": STRING,
                    "description": "setting path (augmentation.hue) → one line of help",
                },
                "imagenet_cached": array(
                    STRING, "encoders whose ImageNet weights are in the local cache"
                ),
            },
            [
                "device",
                "defaults",
                "architectures",
                "encoders",
                "choices",
                "mpp_presets",
                "help",
                "imagenet_cached",
            ],
        ),
        "TensorBoardStatus": obj(
            {
                "running": {"type": "boolean", "description": "whether it has been loaded"},
                "url": {"type": "string", "description": "relative to this server: /tensorboard/"},
            },
            ["running", "url"],
        ),
    }


def _phase_properties() -> dict[str, Schema]:
    """What a running run is doing: preparing (with progress) or training."""
    return {
        "phase": nullable(
            {
                "enum": [PREPARING, TRAINING],
                "description": "running or paused runs: preparing, then training (null "
                "otherwise); `state` stays running meanwhile",
            }
        ),
        "progress": nullable(ref("PrepareProgress")),
    }


def _progress_schema() -> Schema:
    return obj(
        {
            "step": {
                "enum": list(PREPARE_STEPS),
                "description": "labels: slides whose label pieces are merged; regions: "
                "labelled regions read and rasterised; model: built (0 or 1 of 1)",
            },
            "done": INTEGER,
            "total": INTEGER,
        },
        ["step", "done", "total"],
        "How far a run's preparation is (null once it trains).",
    )


def _outcome_properties() -> dict[str, Schema]:
    """What a run and its app say about the model (server/training/figures.py)."""
    return {
        "final": nullable(ref("FinalValues")),
        "validation": nullable(ref("Validation")),
        "weights_from_iteration": nullable(
            {
                "type": "integer",
                "description": "the iteration whose weights the app holds (keep_weights best: "
                "the lowest validation loss; last: the last iteration); for a run in progress, "
                "the one an app would get now",
            }
        ),
    }


def _final_schema() -> Schema:
    return obj(
        {
            "loss": {
                "type": "number",
                "description": "mean training loss over the last `over` iterations up to "
                "`iteration`: 10 % of the iterations done, at least 10, at most 100",
            },
            "error_rate": {"type": "number", "description": "mean over the same iterations"},
            "iteration": INTEGER,
            "over": {"type": "integer", "description": "how many iterations are averaged"},
            "last_loss": {"type": "number", "description": "the raw value of `iteration`"},
            "last_error_rate": NUMBER,
            "val_loss": nullable({"type": "number", "description": "the last validation's"}),
            "val_error_rate": nullable(NUMBER),
            "val_iteration": nullable(INTEGER),
        },
        ["loss", "error_rate", "iteration", "over", "last_loss", "last_error_rate"],
        "The final value of a run: one definition for the run, its app, its chart and "
        "TensorBoard (final/loss, final/error_rate).",
    )


def _validation_schema() -> Schema:
    metric = nullable({"type": "number", "minimum": 0, "maximum": 1})
    return obj(
        {
            "iteration": {"type": "integer", "description": "when it was measured"},
            "loss": NUMBER,
            "error_rate": {"type": "number", "description": "fraction of held-out pixels wrong"},
            "classes": array(
                obj(
                    {
                        "id": nullable(INTEGER),
                        "name": STRING,
                        "iou": metric,
                        "dice": metric,
                        "precision": metric,
                        "recall": metric,
                        "pixels": {"type": "integer", "description": "held-out pixels"},
                    },
                    ["id", "iou", "dice", "precision", "recall"],
                ),
                "in model channel order; a figure is null where it divides by 0",
            ),
            "confusion": array(
                array(INTEGER),
                "held-out pixels: row = true class, column = predicted class (channel order)",
            ),
        },
        ["iteration", "loss", "error_rate", "classes", "confusion"],
        "A validation measurement on the spatially blocked hold-out (of the weights the app "
        "keeps).",
    )


def _app_schemas() -> dict[str, Schema]:
    app: dict[str, Schema] = {
        "id": STRING,
        "name": STRING,
        "created": {"type": "string", "description": "ISO 8601, UTC"},
        "architecture": {"enum": list(training_settings.CHOICES["architecture"])},
        "encoder": STRING,
        "num_classes": {"type": "integer", "minimum": 2, "maximum": 255},
        "classes": array(ref("ModelClass")),
        "mpp": {"type": "number", "description": "the resolution it works at, µm/px"},
        "patch_size": INTEGER,
        "normalization": obj(
            {"mean": array(NUMBER, minItems=3, maxItems=3), "std": array(NUMBER)},
            ["mean", "std"],
        ),
        "training": {
            "type": "object",
            "description": "run_id, iterations, final_loss and final_error_rate (the same "
            "numbers as final.loss and final.error_rate), duration_s, slides, settings",
        },
        **_outcome_properties(),
        "postprocessing": array(ref("PostprocessingStep"), maxItems=MAX_STEPS),
        "postprocessing_key": {
            "type": "string",
            "description": 'a short hash of the steps ("" when none); overlay tile URLs may '
            "carry it as `pp` so a browser fetches tiles again when the steps change",
        },
    }
    return {
        "App": obj(
            app,
            [k for k in app if k != "training" and k not in _outcome_properties()],
            "A trained model (`final`, `validation`, `weights_from_iteration`: when training "
            "stated them).",
        ),
        "AppRename": obj(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "postprocessing": array(ref("PostprocessingStep"), maxItems=MAX_STEPS),
            },
            description="a new name and/or the post-processing steps (replacing the old ones)",
        ),
        "PostprocessingStep": _postprocessing_step(),
    }


def _objects_schema() -> Schema:
    sizes = obj(
        {
            "edges_um2": array(NUMBER, "log-spaced bin edges (pixels without µm/px)"),
            "counts": array(INTEGER, "objects per bin"),
        },
        ["edges_um2", "counts"],
    )
    per_class = obj(
        {
            "id": nullable(INTEGER),
            "index": INTEGER,
            "name": STRING,
            "color": COLOR,
            "count": INTEGER,
            "pixels": INTEGER,
            "area_mm2": nullable(NUMBER),
            "area_fraction": {"type": "number", "description": "of the region"},
            "density_per_mm2": nullable(NUMBER),
            "sizes": sizes,
        },
        ["index", "name", "count", "pixels", "area_fraction", "sizes"],
    )
    return obj(
        {
            "threshold": NUMBER,
            "postprocessing_key": POSTPROCESSING_KEY,
            "pixel_area_um2": nullable(NUMBER),
            "region_pixels": INTEGER,
            "region_area_mm2": nullable(NUMBER),
            "classes": array(per_class),
            "rois": array(
                obj(
                    {
                        "roi_id": INTEGER,
                        "region_pixels": INTEGER,
                        "region_area_mm2": nullable(NUMBER),
                        "classes": array(
                            obj(
                                {
                                    k: per_class["properties"][k]
                                    for k in per_class["properties"]
                                    if k not in ("color", "sizes")
                                }
                            )
                        ),
                    },
                    ["roi_id", "region_pixels", "classes"],
                ),
                "per ROI drawn on the slide: objects whose centroid lies in it, class pixels "
                "whose centre does, fractions of the region's pixels in it",
            ),
        },
        ["threshold", "region_pixels", "classes", "rois"],
        "Areas and densities are null when the slide records no µm/px.",
    )


def _postprocessing_step() -> Schema:
    cls = {"type": "integer", "description": "one of the app's class ids (classes[].id)"}
    amount = {"type": "number", "minimum": 0}
    ranges = {m: array(NUMBER, minItems=2, maxItems=2) for m in MEASURES}

    def step(op: str | list[str], fields: dict[str, Schema], description: str) -> Schema:
        kind = {"enum": op} if isinstance(op, list) else {"const": op}
        props = {"op": kind, "class_id": cls, **fields}
        return obj(props, list(props), description)

    return {
        "description": "One post-processing step (server/measure/postprocess.py); steps run in "
        "order on the labels at the threshold, before the overlay, stats and exports",
        "oneOf": [
            step(
                "remove_small_objects",
                {"min_area_um2": amount},
                "smaller objects become unclassified",
            ),
            step(
                "fill_holes",
                {"max_area_um2": amount},
                "enclosed holes up to the area join the class",
            ),
            step(
                ["open", "close"],
                {"radius_um": amount},
                "opening (removes what is thinner "
                "than the disc) or closing (fills narrower gaps) with a disc of that radius",
            ),
            step(
                "relabel",
                {
                    "to_class_id": nullable(cls),
                    "where": obj(ranges, description="[min, max] per measure; all must hold"),
                },
                "objects whose measures lie in the ranges move to another class "
                "(null: unclassified)",
            ),
        ],
    }


def _inference_schemas() -> dict[str, Schema]:
    region = {
        "description": "what to apply the app to; tissue when left out",
        "oneOf": [
            {"enum": list(KINDS), "description": "tissue found on a thumbnail, or everything"},
            obj(
                {
                    "tissue": obj(
                        {
                            "sensitivity": {
                                "type": "number",
                                "minimum": 0,
                                "maximum": 1,
                                "default": 0.5,
                                "description": "tissue detection: higher takes in fainter, "
                                "thinner tissue (GET /api/slides/{slide_id}/tissue.png shows it)",
                            }
                        },
                        [],
                    )
                },
                ["tissue"],
            ),
            obj({"bbox": BBOX}, ["bbox"]),
            obj(
                {"roi_id": {"type": ["integer", "string"], "description": "an ROI of the slide"}},
                ["roi_id"],
            ),
        ],
    }
    stats_class = obj(
        {
            "id": nullable(INTEGER),
            "index": INTEGER,
            "name": STRING,
            "color": COLOR,
            "pixels": {"type": "integer", "description": "result pixels (at the app's µm/px)"},
            "area_mm2": nullable(NUMBER),
            "fraction": {"type": "number", "description": "of the region"},
        },
        ["id", "index", "name", "color", "pixels", "area_mm2", "fraction"],
    )
    result: dict[str, Schema] = {
        "id": STRING,
        "state": {"enum": list(RESULT_STATES)},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "eta_s": nullable(NUMBER),
        "app_id": {"type": "string", "description": "`run:<run_id>` for a live preview"},
        "app_name": nullable(STRING),
        "slide_id": STRING,
        "slide_name": nullable(STRING),
        "region": ref("Region"),
        "classes": array(ref("ModelClass")),
        "mpp": nullable({"type": "number", "description": "the app's µm/px"}),
        "error": nullable(ref("JobError")),
        "warnings": array(STRING),
        "created": {"type": "string", "description": "ISO 8601, UTC"},
        "finished": nullable(STRING),
        "preview": BOOLEAN,
        "version": {"type": "integer", "description": "generation (a preview re-runs)"},
        "postprocessing_key": POSTPROCESSING_KEY,
        "uncertainty_colors": array(
            COLOR, "the uncertainty map's colour stops from 0 to 1, evenly spaced"
        ),
    }
    uncertainty = obj(
        {
            "mean": {"type": "number", "minimum": 0, "maximum": 1},
            "p90": {"type": "number", "minimum": 0, "maximum": 1},
            "high_fraction": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "fraction of the region with uncertainty ≥ 0.5",
            },
        },
        ["mean", "p90", "high_fraction"],
        "Normalised entropy of the class probabilities over the region (0 certain, 1 all "
        "classes equally likely).",
    )
    suggestion = obj(
        {
            "bbox": BBOX,
            "score": {"type": "number", "description": "mean uncertainty × unlabelled share"},
            "mean_uncertainty": {"type": "number", "minimum": 0, "maximum": 1},
        },
        ["bbox", "score", "mean_uncertainty"],
    )
    return {
        "Region": region,
        "InferenceRequest": {
            **obj(
                {
                    "app_id": STRING,
                    "slide_id": STRING,
                    "slide_ids": array(STRING, "several slides, one result each", minItems=1),
                    "region": ref("Region"),
                },
                ["app_id"],
            ),
            "anyOf": [{"required": ["slide_id"]}, {"required": ["slide_ids"]}],
        },
        "InferenceStarted": {
            "oneOf": [
                obj({"result_id": STRING}, ["result_id"]),
                obj({"result_ids": array(STRING)}, ["result_ids"]),
            ]
        },
        "PreviewRequest": obj(
            {"run_id": STRING, "slide_id": STRING, "bbox": BBOX},
            ["run_id", "slide_id", "bbox"],
        ),
        "ResultId": obj({"result_id": STRING}, ["result_id"]),
        "Result": obj(result, list(result)),
        "Stats": obj(
            {
                "threshold": NUMBER,
                "pixel_area_um2": nullable(NUMBER),
                "region_pixels": INTEGER,
                "region_area_mm2": nullable(NUMBER),
                "unclassified_pixels": INTEGER,
                "unclassified_area_mm2": nullable(NUMBER),
                "unclassified_fraction": NUMBER,
                "classes": array(stats_class),
                "uncertainty": nullable(uncertainty),
                "warnings": array(STRING),
                "postprocessing_key": POSTPROCESSING_KEY,
            },
            [
                "threshold",
                "pixel_area_um2",
                "region_pixels",
                "region_area_mm2",
                "unclassified_pixels",
                "unclassified_area_mm2",
                "unclassified_fraction",
                "classes",
            ],
            "Areas are null when the slide records no µm/px; uncertainty is null for "
            "results made before uncertainty maps existed.",
        ),
        "Objects": _objects_schema(),
        "Suggestions": obj(
            {
                "suggestions": array(suggestion, "best first"),
                "window_px": {"type": "number", "description": "window side, level-0 pixels"},
            },
            ["suggestions", "window_px"],
        ),
        "AcceptRequest": obj(
            {
                "region": {
                    "oneOf": [
                        obj({"bbox": BBOX}, ["bbox"]),
                        obj({"roi_id": INTEGER}, ["roi_id"]),
                    ]
                },
                "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                "client_id": STRING,
            },
            ["region"],
        ),
        "AcceptAnswer": {
            "allOf": [
                ref("EditAnswer"),
                obj(
                    {
                        "accepted": obj(
                            {
                                "classes": array(
                                    obj(
                                        {
                                            "id": INTEGER,
                                            "name": STRING,
                                            "area_px": NUMBER,
                                            "area_um2": nullable(NUMBER),
                                        },
                                        ["id", "name", "area_px", "area_um2"],
                                    )
                                )
                            },
                            ["classes"],
                        )
                    },
                    ["accepted"],
                ),
            ]
        },
    }


def schemas() -> dict[str, Schema]:
    """Every component schema."""
    out: dict[str, Schema] = {}
    for part in (
        _error_schemas,
        _slide_schemas,
        _class_schemas,
        _geojson_schemas,
        _annotation_schemas,
        _training_schemas,
        _app_schemas,
        _inference_schemas,
    ):
        out.update(part())
    out["Health"] = obj({"ok": {"const": True}, "version": STRING}, ["ok", "version"])
    return out


# ---- parameters and responses ---------------------------------------------------------------


def path_param(name: str, description: str, schema: Schema | None = None) -> Schema:
    """A path parameter."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or STRING,
    }


def query_param(name: str, description: str, schema: Schema) -> Schema:
    """An optional query parameter."""
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _parameters() -> dict[str, Schema]:
    level = {"type": "integer", "minimum": 0}
    return {
        "SlideId": path_param("slide_id", "A slide id from GET /api/slides"),
        "ClassId": path_param("class_id", "A class id", level),
        "RunId": path_param("run_id", "A training run id"),
        "AppId": path_param("app_id", "An app id"),
        "ResultId": path_param("rid", "A result id"),
        "Level": path_param("level", "Deep Zoom level (0 = 1×1 pixel)", level),
        "Col": path_param("col", "tile column", level),
        "Row": path_param("row", "tile row", level),
        "Threshold": query_param(
            "threshold",
            "minimum probability: a pixel whose best class probability is below it is "
            "unclassified (default 0)",
            {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
        ),
        "ClientIdQuery": query_param(
            "client_id", "echoed in the `annotations:changed` event", {"type": "string"}
        ),
        "FormQuery": query_param(
            "form",
            "labels as one feature per class (`classes`, the default) or per polygon and "
            "grid cell (`parts`, the ids edit answers use)",
            {"enum": ["classes", "parts"], "default": "classes"},
        ),
    }


ERROR_TEXT = {
    "400": "Invalid request: `error` says what, `fields` (training settings) says where.",
    "401": "A token is set and the request did not present it (see Authentication).",
    "403": "Host not allowed (loopback bind), or a state-changing request from another site.",
    "404": "Not found.",
    "409": "The request does not fit the current state (e.g. a slide that cannot be read).",
    "413": "Too large: the body (default limit "
    f"{DEFAULT_MAX_BODY // MiB} MiB) or the work it asks for.",
}


def _responses() -> dict[str, Schema]:
    return {
        code: {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
        for code, text in ERROR_TEXT.items()
    }


def json_response(schema: Schema, description: str = "OK") -> Schema:
    """A JSON response."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def file_response(description: str, *media_types: str) -> Schema:
    """A binary or text file response."""
    content = {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types}
    return {"description": description, "content": content}


def json_body(schema: Schema, required: bool = True) -> Schema:
    """A JSON request body."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def operation(
    op_id: str,
    tag: str,
    summary: str,
    responses: dict[str, Schema],
    *,
    description: str | None = None,
    params: list[Schema] | tuple = (),
    body: Schema | None = None,
    errors: tuple[str, ...] = (),
) -> Schema:
    """One operation; every one may also answer 401 and 403 (the access guard)."""
    op: Schema = {"operationId": op_id, "tags": [tag], "summary": summary}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = body
        errors = (*errors, "400", "413")
    all_responses = dict(responses)
    for code in sorted({*errors, "401", "403"}):
        all_responses.setdefault(code, {"$ref": f"#/components/responses/{code}"})
    op["responses"] = all_responses
    return op


def p(name: str) -> Schema:
    """A reference to a shared parameter."""
    return {"$ref": f"#/components/parameters/{name}"}


SLIDE_ERRORS = ("404", "409")
SLIDE_TEXT = " Unknown slides answer 404, unreadable (or changed, damaged) ones 409."


# ---- paths ----------------------------------------------------------------------------------


def _meta_paths() -> dict[str, Schema]:
    return {
        "/api/health": {
            "get": operation(
                "health", "meta", "Liveness and version", {"200": json_response(ref("Health"))}
            )
        },
        "/api/openapi.json": {
            "get": operation(
                "openapi",
                "meta",
                "This OpenAPI document",
                {"200": json_response({"type": "object"})},
            )
        },
    }


def _slide_paths() -> dict[str, Schema]:
    slide = [p("SlideId")]
    image = file_response("JPEG, with an ETag; 304 for a matching If-None-Match", "image/jpeg")
    return {
        "/api/slides": {
            "get": operation(
                "listSlides",
                "slides",
                "Every slide under the slide folders (readable first, then by path)",
                {"200": json_response(array(ref("Slide")))},
            )
        },
        "/api/slides/rescan": {
            "post": operation(
                "rescanSlides",
                "slides",
                "Walk the slide folders again; the new list",
                {"200": json_response(array(ref("Slide")))},
                description="Unchanged files (same mtime and size) keep their metadata.",
            )
        },
        "/api/slides/{slide_id}": {
            "get": operation(
                "getSlide",
                "slides",
                "Metadata: size, levels, µm/px, associated images, OpenSlide properties",
                {"200": json_response(ref("SlideDetail"))},
                description=SLIDE_TEXT.strip(),
                params=slide,
                errors=SLIDE_ERRORS,
            )
        },
        "/api/slides/{slide_id}/thumbnail": {
            "get": operation(
                "getThumbnail",
                "slides",
                "A JPEG thumbnail",
                {"200": image},
                params=[
                    *slide,
                    query_param(
                        "size",
                        "bound of the longer side in pixels",
                        {"type": "integer", "minimum": 16, "maximum": 2048, "default": 256},
                    ),
                ],
                errors=("400", *SLIDE_ERRORS),
            )
        },
        "/api/slides/{slide_id}/tissue.png": {
            "get": operation(
                "getTissueOverlay",
                "slides",
                "The detected tissue as a transparent overlay image of the whole slide",
                {"200": file_response("PNG", "image/png")},
                description="The tissue a `tissue` region uses, found on a thumbnail (longer "
                "side 1024 px) at `sensitivity`: an RGBA PNG of the thumbnail's size, tissue "
                "cyan and half transparent, the rest transparent; stretch it over the slide's "
                "level-0 extent. The header X-Tissue-Fraction gives the share of the slide that "
                "is tissue." + SLIDE_TEXT,
                params=[
                    *slide,
                    query_param(
                        "sensitivity",
                        "0 only clear tissue … 1 faint strands too",
                        {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                    ),
                ],
                errors=("400", *SLIDE_ERRORS),
            )
        },
        "/api/slides/{slide_id}/wand": {
            "get": operation(
                "magicWand",
                "slides",
                "Magic wand: the connected area of similar colour around a point",
                {
                    "200": json_response(
                        obj(
                            {
                                "polygon": array(POSITION, "one outer ring, not closed"),
                                "area_px": {
                                    "type": "number",
                                    "description": "the polygon's area in level-0 pixels²",
                                },
                            },
                            ("polygon", "area_px"),
                        )
                    )
                },
                description="The slide is read around (x, y) at `downsample` level-0 pixels "
                "per pixel (the viewer's zoom) within at most 1024 × 1024 such pixels; pixels "
                "whose CIE Lab distance (ΔE*76, after a 3 × 3 smoothing) to the point's colour "
                "is at most `tolerance` and that connect to it (4-connected) form the area; "
                "holes are filled and the outline is simplified to about one such pixel."
                + SLIDE_TEXT,
                params=[
                    *slide,
                    {**query_param("x", "level-0 x of the click", NUMBER), "required": True},
                    {**query_param("y", "level-0 y of the click", NUMBER), "required": True},
                    query_param(
                        "downsample",
                        "level-0 pixels per screen pixel",
                        {"type": "number", "exclusiveMinimum": 0, "maximum": 4096, "default": 1},
                    ),
                    query_param(
                        "tolerance",
                        "largest Lab distance to the click's colour",
                        {"type": "number", "minimum": 0, "maximum": 100, "default": 20},
                    ),
                ],
                errors=("400", *SLIDE_ERRORS),
            )
        },
        "/api/slides/{slide_id}/associated/{name}": {
            "get": operation(
                "getAssociatedImage",
                "slides",
                "An associated image (label, macro, thumbnail...) as JPEG",
                {"200": file_response("JPEG", "image/jpeg")},
                params=[*slide, path_param("name", "one of the slide's `associated` names")],
                errors=SLIDE_ERRORS,
            )
        },
        "/slides/{slide_id}.dzi": {
            "get": operation(
                "getSlideDzi",
                "slides",
                "Deep Zoom descriptor (tile 254, overlap 1, JPEG)",
                {"200": file_response("Deep Zoom XML", "application/xml")},
                params=slide,
                errors=SLIDE_ERRORS,
            )
        },
        "/slides/{slide_id}_files/{level}/{col}_{row}.{fmt}": {
            "get": operation(
                "getSlideTile",
                "slides",
                "One Deep Zoom tile",
                {"200": image},
                description="Made by OpenSlide's DeepZoomGenerator with limit_bounds, "
                "cached. Tiles outside the pyramid answer 404.",
                params=[
                    *slide,
                    p("Level"),
                    p("Col"),
                    p("Row"),
                    path_param("fmt", "image format", {"enum": ["jpeg", "jpg"]}),
                ],
                errors=SLIDE_ERRORS,
            )
        },
    }


def _class_paths() -> dict[str, Schema]:
    changed = "Every change is broadcast as Socket.IO `classes:changed` (the ordered list)."
    return {
        "/api/classes": {
            "get": operation(
                "listClasses",
                "classes",
                "All label classes, in order",
                {"200": json_response(array(ref("Class")))},
            ),
            "post": operation(
                "createClass",
                "classes",
                "Add a class at the end of the order",
                {"201": json_response(ref("Class"), "Created")},
                description=changed,
                body=json_body(ref("ClassCreate")),
            ),
        },
        "/api/classes/{class_id}": {
            "patch": operation(
                "updateClass",
                "classes",
                "Rename and/or recolour a class",
                {"200": json_response(ref("Class"))},
                description=changed,
                params=[p("ClassId")],
                body=json_body(ref("ClassUpdate")),
                errors=("404",),
            ),
            "delete": operation(
                "deleteClass",
                "classes",
                "Delete a class and its labels on every slide",
                {"200": json_response(ref("Deleted"))},
                description="Classes after it move up one position, so their mask values "
                "change. " + changed,
                params=[p("ClassId")],
                errors=("404",),
            ),
        },
        "/api/classes/order": {
            "post": operation(
                "reorderClasses",
                "classes",
                "Set the order of the classes (and so their mask values)",
                {"200": json_response(array(ref("Class")))},
                description=changed,
                body=json_body(ref("ClassOrder")),
            )
        },
    }


def _annotation_paths() -> dict[str, Schema]:
    slide = [p("SlideId")]
    answer = {"200": json_response(ref("EditAnswer"))}
    live = (
        " The change is committed before the answer and sent to room `slide:<id>` as "
        "`annotations:changed`."
    )
    base = "/api/slides/{slide_id}"
    return {
        f"{base}/annotations": {
            "get": operation(
                "getAnnotations",
                "annotations",
                "Labels and ROIs of a slide as GeoJSON (level-0 pixels)",
                {"200": json_response(ref("AnnotationCollection"))},
                params=[*slide, p("FormQuery")],
                errors=SLIDE_ERRORS,
            ),
            "put": operation(
                "replaceAnnotations",
                "annotations",
                "Replace all labels and ROIs from GeoJSON (QuPath accepted)",
                {"200": json_response(ref("AnnotationCollection"))},
                description="Creates the classes it names that do not exist (matched by name, "
                "case-insensitively). Where features overlap, the feature that comes later in "
                "the file keeps the pixels, as the same polygons painted one by one would. "
                "Invalid polygons are repaired; parts outside the slide are cut off. One undo "
                "step." + live,
                params=[*slide, p("ClientIdQuery"), p("FormQuery")],
                body=json_body(ref("GeoJSONImport")),
                errors=SLIDE_ERRORS,
            ),
        },
        f"{base}/annotations/edits": {
            "post": operation(
                "editAnnotations",
                "annotations",
                "Apply a brush, eraser, polygon, ROI or shape edit",
                answer,
                description="Shapes are clipped to the slide; an edit entirely outside changes "
                "nothing (an ROI outside is a 400)." + live,
                params=slide,
                body=json_body(ref("EditRequest")),
                errors=SLIDE_ERRORS,
            )
        },
        f"{base}/annotations/undo": {
            "post": operation(
                "undoAnnotations",
                "annotations",
                "Revert the newest change of the slide",
                answer,
                description="409 when there is nothing to undo. 250 steps per slide are kept."
                + live,
                params=slide,
                body=json_body(ref("ClientId"), required=False),
                errors=SLIDE_ERRORS,
            )
        },
        f"{base}/annotations/redo": {
            "post": operation(
                "redoAnnotations",
                "annotations",
                "Re-apply the newest undone change",
                answer,
                description="409 when there is nothing to redo." + live,
                params=slide,
                body=json_body(ref("ClientId"), required=False),
                errors=SLIDE_ERRORS,
            )
        },
        f"{base}/rois/{{roi_id}}": {
            "delete": operation(
                "deleteRoi",
                "annotations",
                "Remove one ROI (undoable)",
                answer,
                params=[
                    *slide,
                    path_param("roi_id", "the ROI's id", {"type": "integer", "minimum": 0}),
                    p("ClientIdQuery"),
                ],
                body=json_body(ref("ClientId"), required=False),
                errors=SLIDE_ERRORS,
            )
        },
        f"{base}/annotations/export.geojson": {
            "get": operation(
                "exportAnnotations",
                "annotations",
                "QuPath-importable GeoJSON: one feature per class, ROIs as class ROI",
                {"200": json_response(ref("QuPathCollection"), "An attachment")},
                params=slide,
                errors=SLIDE_ERRORS,
            )
        },
        f"{base}/annotations/mask.{{fmt}}": {
            "get": operation(
                "exportMask",
                "annotations",
                "uint8 label mask: class position + 1, 0 = unlabelled",
                {
                    "200": {
                        **file_response("An attachment", "image/png", "image/tiff"),
                        "headers": {
                            "X-Slidelab-Legend": {
                                "description": "JSON: mask value → {id, name, color}",
                                "schema": STRING,
                            }
                        },
                    }
                },
                description="A mask pixel takes a class when its centre lies inside the "
                "class's labels. The TIFF carries the resolution (pixels/cm) when the slide "
                f"has a µm/px. At most {MAX_MASK_PIXELS:,} pixels (400 beyond).",
                params=[
                    *slide,
                    path_param("fmt", "file format", {"enum": ["png", "tiff", "tif"]}),
                    query_param(
                        "downsample",
                        "level-0 pixels per mask pixel",
                        {"type": "number", "minimum": 1, "maximum": MAX_DOWNSAMPLE, "default": 1},
                    ),
                ],
                errors=("400", *SLIDE_ERRORS),
            )
        },
        f"{base}/annotations/shape": {
            "get": operation(
                "annotationShape",
                "annotations",
                "The connected shape of the label under a point",
                {"200": json_response(ref("LabelShape"))},
                description="The whole region of one class connected to the point, merged "
                "across grid cells: what the Select tool highlights, and what the `shape` "
                "edit deletes, recolors or replaces. 404 `No label here` when no label "
                "covers the point (or it lies outside the slide).",
                params=[
                    *slide,
                    {**query_param("x", "level-0 pixels", NUMBER), "required": True},
                    {**query_param("y", "level-0 pixels", NUMBER), "required": True},
                ],
                errors=("400", *SLIDE_ERRORS),
            )
        },
        f"{base}/annotations/summary": {
            "get": operation(
                "annotationSummary",
                "annotations",
                "Labelled area per class and the number of ROIs",
                {"200": json_response(ref("AnnotationSummary"))},
                params=slide,
                errors=SLIDE_ERRORS,
            )
        },
    }


def _training_paths() -> dict[str, Schema]:
    run = [p("RunId")]
    states = ", ".join(CONTINUABLE)
    return {
        "/api/training/options": {
            "get": operation(
                "trainingOptions",
                "training",
                "The device, its default settings and the choices of every setting",
                {"200": json_response(ref("TrainingOptions"))},
            )
        },
        "/api/training": {
            "get": operation(
                "listRuns",
                "training",
                "Every run, newest first (without history)",
                {"200": json_response(array(ref("Run")))},
            ),
            "post": operation(
                "startRun",
                "training",
                "Start a run (queued while another job uses the device)",
                {"201": json_response(ref("RunStarted"), "Created")},
                description="Refused (400) when the settings are invalid (`fields`), a slide "
                "has no µm/px, or fewer than two of the chosen classes are labelled. Watch it "
                "over Socket.IO with `watch {run_id}`.",
                body=json_body(ref("TrainingRequest")),
                errors=SLIDE_ERRORS,
            ),
        },
        "/api/training/{run_id}": {
            "get": operation(
                "getRun",
                "training",
                "One run with its whole history",
                {"200": json_response(ref("Run"))},
                params=run,
                errors=("404",),
            )
        },
        "/api/training/{run_id}/{action}": {
            "post": operation(
                "controlRun",
                "training",
                "pause, resume, stop or continue a run",
                {"200": json_response(ref("Run"))},
                description=(
                    "pause: a running run, after its current step. resume: a paused run. stop: "
                    f"a {', '.join(ACTIVE)} run; it saves a checkpoint and becomes an app. "
                    f"continue: a {states} run from its last checkpoint, optionally with "
                    "`{iterations}` more and a new `{learning_rate}`. Anything else is a 409."
                ),
                params=[
                    *run,
                    path_param("action", "what to do", {"enum": list(CONTROL_ACTIONS)}),
                ],
                body=json_body(ref("RunControl"), required=False),
                errors=("404", "409"),
            )
        },
        "/api/tensorboard": {
            "get": operation(
                "tensorBoardStatus",
                "tensorboard",
                "Whether TensorBoard is loaded, and its URL",
                {"200": json_response(ref("TensorBoardStatus"))},
            ),
            "post": operation(
                "loadTensorBoard",
                "tensorboard",
                "Load TensorBoard inside this server and read the runs' event files",
                {"200": json_response(ref("TensorBoardStatus"))},
            ),
        },
        "/tensorboard/": {
            method: operation(
                f"tensorBoard{method.title()}",
                "tensorboard",
                "TensorBoard's web app (and, below this path, its own pages and data API)",
                {"200": file_response("TensorBoard's answer", "text/html")},
                description="Served by slidelab behind the same token and request checks, on "
                "the same port; it reads data_dir/runs/<run>/tb.",
            )
            for method in ("get", "post")
        },
    }


def _app_paths() -> dict[str, Schema]:
    app = [p("AppId")]
    damaged = ("404", "409")
    return {
        "/api/apps": {
            "get": operation(
                "listApps",
                "apps",
                "Every app, newest first",
                {"200": json_response(array(ref("App")))},
            )
        },
        "/api/apps/{app_id}": {
            "get": operation(
                "getApp",
                "apps",
                "One app",
                {"200": json_response(ref("App"))},
                params=app,
                errors=damaged,
            ),
            "patch": operation(
                "updateApp",
                "apps",
                "Rename an app and/or replace its post-processing steps",
                {"200": json_response(ref("App"))},
                params=app,
                body=json_body(ref("AppRename")),
                errors=damaged,
            ),
            "delete": operation(
                "deleteApp",
                "apps",
                "Delete an app (results made with it stay viewable)",
                {"200": json_response(ref("Deleted"))},
                params=app,
                errors=damaged,
            ),
        },
        "/api/apps/{app_id}/export": {
            "get": operation(
                "exportApp",
                "apps",
                f"The app as one `{APP_FILE_SUFFIX}` file (zip: app.json + model.safetensors)",
                {"200": file_response("An attachment", "application/zip")},
                params=app,
                errors=damaged,
            )
        },
        "/api/apps/import": {
            "post": operation(
                "importApp",
                "apps",
                "Import an exported app under a new id",
                {"201": json_response(ref("App"), "Created")},
                description="The file is validated (schema, weights that fit the "
                "architecture) and never unpickled. Up to "
                f"{MAX_IMPORT_BYTES // MiB:,} MiB.",
                body={
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": obj(
                                {"file": {"type": "string", "format": "binary"}}, ["file"]
                            )
                        }
                    },
                },
            )
        },
    }


def _result_paths() -> dict[str, Schema]:
    rid = [p("ResultId")]
    exports = sorted({media for media, _ in EXPORTS.values()})
    return {
        "/api/inference": {
            "post": operation(
                "startInference",
                "inference",
                "Apply an app to a slide (or several)",
                {"201": json_response(ref("InferenceStarted"), "Queued")},
                description="Unknown apps, slides and ROIs are 400. Watch it with "
                "`watch {result_id}`.",
                body=json_body(ref("InferenceRequest")),
            )
        },
        "/api/preview": {
            "post": operation(
                "startPreview",
                "inference",
                "Run a training run's current weights on a view (live preview)",
                {"200": json_response(ref("ResultId"))},
                description="One preview result per run and slide, re-run on each call (a "
                "new `version`). The box is shrunk about its centre to at most 1536 pixels a "
                "side at the app's resolution. A finished run previews with its app; 409 when "
                "the run has no model yet.",
                body=json_body(ref("PreviewRequest")),
                errors=("409",),
            )
        },
        "/api/results": {
            "get": operation(
                "listResults",
                "results",
                "Results, newest first",
                {"200": json_response(array(ref("Result")))},
                params=[
                    query_param("slide_id", "only this slide's", STRING),
                    query_param("preview", "1: include live previews", {"enum": ["0", "1"]}),
                ],
            )
        },
        "/api/results/{rid}": {
            "get": operation(
                "getResult",
                "results",
                "One result",
                {"200": json_response(ref("Result"))},
                params=rid,
                errors=("404",),
            ),
            "delete": operation(
                "deleteResult",
                "results",
                "Delete a result and its files (cancelling it first)",
                {"200": json_response(ref("Deleted"))},
                params=rid,
                errors=("404",),
            ),
        },
        "/api/results/{rid}/cancel": {
            "post": operation(
                "cancelResult",
                "results",
                "Cancel a queued or running result (a finished one is left as it is)",
                {"200": json_response(ref("Result"))},
                params=rid,
                errors=("404",),
            )
        },
        "/api/results/{rid}/stats": {
            "get": operation(
                "resultStats",
                "results",
                "Area per class at a threshold",
                {"200": json_response(ref("Stats"))},
                description="Only for completed results (409 otherwise).",
                params=[*rid, p("Threshold")],
                errors=("400", "404", "409"),
            )
        },
        "/api/results/{rid}/suggestions": {
            "get": operation(
                "resultSuggestions",
                "results",
                "Windows where labelling would help most (active learning)",
                {"200": json_response(ref("Suggestions"))},
                description="Windows inside the result's region (at least half covered), "
                "ranked by mean uncertainty, down-weighted by the share already labelled, "
                "none overlapping another. 409 while nothing is written yet, or for a "
                "result made before uncertainty maps existed.",
                params=[
                    *rid,
                    query_param(
                        "n",
                        "how many windows",
                        {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                    ),
                    query_param(
                        "size",
                        "window side in level-0 pixels (default: 256 result pixels)",
                        {"type": "number", "exclusiveMinimum": 0},
                    ),
                ],
                errors=("400", "404", "409"),
            )
        },
        "/api/results/{rid}/accept": {
            "post": operation(
                "acceptResult",
                "results",
                "Turn the predicted classes in a region into labels (one undoable edit)",
                {"200": json_response(ref("AcceptAnswer"))},
                description="Pixels whose winning probability reaches the threshold become "
                "labels of the label class of the same name (created when missing); inside "
                "the region, existing labels are replaced and pixels below the threshold "
                "end up unlabelled. One undo step; `annotations:changed` like any edit. "
                "409 unless the result is completed; 413 for a region over the edit limits.",
                body=json_body(ref("AcceptRequest")),
                params=rid,
                errors=("400", "404", "409", "413"),
            )
        },
        "/api/results/{rid}/export.{kind}": {
            "get": operation(
                "exportResult",
                "results",
                "GeoJSON, label TIFF or CSV of a completed result at a threshold",
                {"200": file_response("An attachment", *exports)},
                description="geojson: one polygon per connected region of a class, level-0 "
                "pixels, QuPath-compatible. tiff: pyramidal tiled uint8 labels at the app's "
                "resolution (0 = unclassified or outside, class index + 1), resolution tags "
                "and a JSON ImageDescription with the values and the level-0 origin. csv: "
                "slide, app, threshold, class, pixels, area_mm2, percent_of_region. With the "
                "app's post-processing steps applied.",
                params=[
                    *rid,
                    path_param("kind", "the export", {"enum": list(EXPORTS)}),
                    p("Threshold"),
                    query_param(
                        "resolution",
                        "tiff only: `app` (default), or `full`: the slide's own pixels, each "
                        "result pixel repeated over the slide pixels it covers, with halvings "
                        "down to one tile, written tile by tile",
                        {"enum": list(RESOLUTIONS), "default": "app"},
                    ),
                ],
                errors=("400", "404", "409"),
            )
        },
        "/api/results/{rid}/objects": {
            "get": operation(
                "resultObjects",
                "results",
                "Objects per class at a threshold: count, area, density, size histogram",
                {"200": json_response(ref("Objects"))},
                description="Objects are the 4-connected regions of one class after the app's "
                "post-processing, one object even where it crosses block borders. Only for "
                "completed results (409 otherwise).",
                params=[*rid, p("Threshold")],
                errors=("400", "404", "409"),
            )
        },
        "/api/results/{rid}/objects.{kind}": {
            "get": operation(
                "exportResultObjects",
                "results",
                "One row (CSV) or QuPath detection (GeoJSON) per object with its measurements",
                {"200": file_response("An attachment", "text/csv", "application/geo+json")},
                description="Columns and measurements: "
                + ", ".join(OBJECT_COLUMNS)
                + " (µm at the app's resolution; centroids in level-0 pixels; perimeter as "
                "scikit-image's regionprops; form factor 4π·area/perimeter²).",
                params=[
                    *rid,
                    path_param("kind", "the export", {"enum": ["csv", "geojson"]}),
                    p("Threshold"),
                ],
                errors=("400", "404", "409"),
            )
        },
        "/results/{rid}.dzi": {
            "get": operation(
                "getOverlayDzi",
                "results",
                "The overlay's Deep Zoom descriptor (the slide DZI's size and tiling)",
                {"200": file_response("Deep Zoom XML", "application/xml")},
                params=rid,
                errors=("404",),
            )
        },
        "/results/{rid}_files/{level}/{col}_{row}.png": {
            "get": operation(
                "getOverlayTile",
                "results",
                "One RGBA overlay tile, rendered at the threshold",
                {"200": file_response("PNG", "image/png")},
                description="classes: each pixel in its class colour, transparent below the "
                "threshold or outside the region. heatmap: one class's probability. "
                "uncertainty: the normalised entropy through the `uncertainty_colors` map "
                "(threshold ignored; 409 for results made before uncertainty maps). 409 "
                "while the result is queued, failed or cancelled.",
                params=[
                    *rid,
                    p("Level"),
                    p("Col"),
                    p("Row"),
                    p("Threshold"),
                    query_param("mode", "what to draw", {"enum": list(MODES), "default": MODES[0]}),
                    query_param(
                        "class",
                        "heatmap only: the class index (model channel)",
                        {"type": "integer", "minimum": 0, "default": 0},
                    ),
                ],
                errors=("400", "404", "409"),
            )
        },
    }


def paths() -> dict[str, Schema]:
    """Every documented path."""
    out: dict[str, Schema] = {}
    for part in (
        _meta_paths,
        _slide_paths,
        _class_paths,
        _annotation_paths,
        _training_paths,
        _app_paths,
        _result_paths,
    ):
        out.update(part())
    return out


# ---- Socket.IO --------------------------------------------------------------------------


def socketio_events() -> Schema:
    """The `x-socketio` extension: how to connect, what to send, what arrives."""
    iteration = {
        "allOf": [ref("HistoryPoint")],
        "properties": {
            "run_id": STRING,
            "it_per_s": nullable(NUMBER),
            "eta_s": nullable(NUMBER),
            "points": array(ref("HistoryPoint"), "every iteration since the previous event"),
            "final": nullable(ref("FinalValues")),
        },
        "required": ["run_id", "points"],
    }
    return {
        "path": "/socket.io/",
        "auth": "With a token: `auth: {token}` in the connect call (or ?token=, Bearer, cookie). "
        "A connection without a valid token is refused; one from another site's page too.",
        "client_events": {
            "watch": {
                "description": "Join the rooms of the given ids; each sends its history first.",
                "payload": obj(
                    {"run_id": STRING, "result_id": STRING, "slide_id": STRING},
                ),
                "ack": obj({"joined": array(STRING), "error": STRING}),
            },
            "unwatch": {
                "description": "Leave those rooms.",
                "payload": obj({"run_id": STRING, "result_id": STRING, "slide_id": STRING}),
                "ack": obj({"ok": BOOLEAN}),
            },
        },
        "server_events": {
            "hello": {"to": "the connecting client", "payload": ref("Health")},
            "classes:changed": {"to": "everyone", "payload": array(ref("Class"))},
            "annotations:changed": {
                "to": "room slide:<slide_id>; on watch, the current version",
                "payload": obj(
                    {
                        "slide_id": STRING,
                        "version": INTEGER,
                        "client_id": nullable(STRING),
                        "features": nullable(array(ref("ChangeFeature"))),
                        "removed": array(STRING),
                        "classes": array(ref("ClassTotal")),
                        "bounds": nullable(array(NUMBER, minItems=4, maxItems=4)),
                    },
                    ["slide_id", "version", "client_id", "features", "removed"],
                    "The edit answer's change (same fields). features null: too large to send, "
                    "a replay, an import or a class delete: reload the collection",
                ),
            },
            "training:history": {
                "to": "the client that watched run_id",
                "payload": {
                    "allOf": [ref("Run")],
                    "properties": {"run_id": STRING},
                    "required": ["run_id", "history"],
                },
            },
            "training:iteration": {
                "to": "room run:<run_id>, at most about 10 a second",
                "payload": iteration,
            },
            "training:state": {
                "to": "room run:<run_id>",
                "payload": obj(
                    {
                        "run_id": STRING,
                        "state": {"enum": list(RUN_STATES)},
                        "iteration": INTEGER,
                        "iterations": INTEGER,
                        "app_id": nullable(STRING),
                        "error": nullable(ref("JobError")),
                        "duration_s": NUMBER,
                        "prepare_s": NUMBER,
                        **_phase_properties(),
                        **_outcome_properties(),
                        "warnings": array(STRING),
                    },
                    ["run_id", "state", "iteration", "iterations", "app_id", "error"],
                ),
            },
            "training:progress": {
                "to": "room run:<run_id>, while the run prepares (before its first "
                "iteration), at most about 10 a second",
                "payload": {
                    "allOf": [ref("PrepareProgress")],
                    "properties": {
                        "run_id": STRING,
                        "phase": {"enum": [PREPARING]},
                        "elapsed_s": {"type": "number", "description": "since preparing began"},
                    },
                    "required": ["run_id", "phase", "elapsed_s"],
                },
            },
            "inference:progress": {
                "to": "room result:<result_id>, a few a second; on watch, the current one",
                "payload": obj(
                    {
                        "result_id": STRING,
                        "state": {"enum": list(RESULT_STATES)},
                        "progress": NUMBER,
                        "eta_s": nullable(NUMBER),
                    },
                    ["result_id", "state", "progress", "eta_s"],
                ),
            },
            "inference:done": {
                "to": "room result:<result_id>",
                "payload": obj(
                    {"result_id": STRING, "state": {"enum": list(RESULT_STATES)}},
                    ["result_id", "state"],
                ),
            },
            "job:error": {
                "to": f"room run:<run_id> (run {FAILED}, or unknown on watch) or "
                "result:<result_id> (inference failed)",
                "payload": {
                    "allOf": [ref("JobError")],
                    "properties": {"run_id": STRING, "result_id": STRING},
                },
            },
        },
    }


DESCRIPTION = """\
slidelab's HTTP API: slides and Deep Zoom tiles, label classes, annotations, training runs,
apps (trained models), inference results, overlays, stats and exports.

Conventions (docs/api.md has the details):
- Coordinates are level-0 pixel coordinates of the slide: pixel (i, j) covers
  [i, i+1) × [j, j+1), and a pixel counts as inside a shape when its centre is.
- Label mask and label TIFF values are a class's *position* + 1 (0 = unlabelled or
  unclassified), not its id.
- Errors are JSON `{error, hint?, fields?}` with a 4xx status; an unexpected error is a 500
  with an `id` that the server log repeats.
- With a token (any bind other than loopback): `?token=`, `Authorization: Bearer`, or the
  cookie `slidelab_token_<port>` set after a correct `?token=`; Socket.IO `auth: {token}`.
  State-changing requests from another site's page are refused (403).

Socket.IO events are described in the `x-socketio` extension of this document.
"""


@functools.cache
def _document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "slidelab",
            "version": __version__,
            "summary": "Deep-learning pixel classification of whole-slide images",
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {"name": name}
            for name in (
                "meta",
                "slides",
                "classes",
                "annotations",
                "training",
                "tensorboard",
                "apps",
                "inference",
                "results",
            )
        ],
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "parameters": _parameters(),
            "responses": _responses(),
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "query", "name": "token"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "slidelab_token_5000",
                    "description": "slidelab_token_<port>: set by the first correct ?token=",
                },
            },
        },
        "security": [{}, {"token": []}, {"bearer": []}, {"cookie": []}],
        "x-socketio": socketio_events(),
    }


def document() -> Schema:
    """The whole OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
