"""The language reference as data: what each keyword means where it is written, and its default.

One entry per (block, keyword), worded as the README's language reference words it; the language
server shows them on hover and beside completions, and a test checks every keyword of
`grammar.lark` has one. Blocks: "file" (the top level), "brand", "brief", "component", "edit",
"region", "check", "output" (the `output` line and its block), "matrix".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    syntax: str
    meaning: str
    default: str = ""


_E = Entry
REFERENCE: dict[tuple[str, str], Entry] = {
    ("file", "use"): _E('use "path.brief"', "Imports the brands of another file; the path is relative to this file "
                        "and may not leave the project. Cycles are an error."),
    ("file", "brand"): _E("brand NAME { … }", "A brand kit: named colours and fonts, the logo, clearspace and safe zone."),
    ("file", "brief"): _E("brief NAME { … }", "One deliverable: canvas, components, edits, brand rules and outputs; "
                          "a matrix makes it a catalogue of variants."),
    ("brand", "color"): _E("color NAME #RRGGBB", "A named brand colour (#RGB or #RRGGBB)."),
    ("brand", "font"): _E('font NAME "file.ttf"', "A named brand font (TrueType or OpenType, inside the project)."),
    ("brand", "logo"): _E('logo "file.png"', "The brand's logo file; `check clearspace` holds a component placing it to it."),
    ("brand", "clearspace"): _E("clearspace K", "Space kept free around the logo, × the logo's height.", "0.5"),
    ("brand", "safezone"): _E("safezone N% | Npx", "Margin kept free of logos and text (% of the short side, or px).",
                              "5% of the short side"),
    ("brief", "canvas"): _E("canvas W x H", "The master canvas size in pixels (at most 16384 a side, 67 megapixels).",
                            "1024 x 1024"),
    ("brief", "seed"): _E("seed N", "The base seed; each component derives its own from it and its name.", "0"),
    ("brief", "steps"): _E("steps N", "Denoising steps for generated components.", "20"),
    ("brief", "backend"): _E('backend NAME ["model"] [revision "sha"] [endpoint "URL"] [retires "YYYY-MM-DD"]',
                             "What renders generated components: `draft` (no model), `diffusers` with a local "
                             "model folder or a pinned hub id, or a hosted API (`openai`, `gemini`, `bfl`, "
                             "`stability`) with a pinned model id.", "draft"),
    ("brief", "endpoint"): _E('endpoint "https://…"', "Where a hosted backend sends its calls: a proxy or a test "
                              "server; also BRIEF_<PROVIDER>_ENDPOINT. Not part of any key.",
                              "the provider's API"),
    ("brief", "retires"): _E('retires "YYYY-MM-DD"', "The date the provider retires the hosted model: recorded in "
                             "brief.lock; `brief lock check` and every build warn from 30 days before it. Not "
                             "part of any key."),
    ("brief", "revision"): _E('revision "sha"', "The pinned revision of a hub model (recorded in brief.lock)."),
    ("brief", "brand"): _E("brand NAME", "The brand kit whose colours, fonts and rules this brief uses."),
    ("brief", "matrix"): _E('matrix AXIS { VALUE "text" [{ FIELD value … }] … }',
                            "A variant axis; several axes multiply. `{axis}` is a value's text, `{axis.name}` its "
                            "name, `{axis.FIELD}` a field, in any string."),
    ("brief", "component"): _E("component NAME { … }", "One layer: generated (`prompt`), placed (`asset`) or typeset (`text`)."),
    ("brief", "edit"): _E("edit NAME { … }", "A refinement applied after composition, in declaration order."),
    ("brief", "check"): _E("check RULE …", "A brand rule, evaluated on every output; a failure fails the build."),
    ("brief", "output"): _E("output NAME W x H outpaint|crop|fit [{ … }]",
                            "A delivered format. `crop` covers and cuts, `fit` fits and pads, `outpaint` fits and "
                            "paints the margins.", "one output at canvas size"),
    ("brief", "x"): _E("W x H", "A size: width by height."),
    ("brief", "guidance"): _E("guidance F", "The guidance scale of every generated component and inpaint edit "
                              "(each may set its own).", "the model's pipeline default"),
    ("brief", "lora"): _E('lora "file.safetensors" weight F', "LoRA weights applied to the model for every "
                          "generated component and inpaint edit (several add up).", "none"),
    ("brief", "controlnet"): _E('controlnet canny|depth "folder"', "The ControlNet model (a diffusers ControlNet "
                                "folder, safetensors) that `control` lines of that kind use; pinned in brief.lock."),
    ("brief", "scheduler"): _E("scheduler NAME", "The scheduler of every generated component and inpaint edit.",
                               "the model's"),
    ("component", "prompt"): _E('prompt "…"', "Generate this layer from a prompt (placeholders interpolate)."),
    ("component", "negative"): _E('negative "…"', "The negative prompt.", "none"),
    ("component", "asset"): _E('asset "file.png"', "Place an image (PNG, JPEG or WebP inside the project)."),
    ("component", "text"): _E('text "…"', "A text layer, typeset with a brand font, never generated; `\\n` starts a paragraph."),
    ("component", "font"): _E("font NAME | AXIS.FIELD", "One of the brand's fonts (required for text)."),
    ("component", "size"): _E("size Npx | size auto MIN MAX",
                              "A fixed text size, or the largest whole px size from MIN to MAX that fits the box.",
                              "auto from 8 px to the box's height"),
    ("component", "auto"): _E("size auto MIN MAX", "The largest whole px size from MIN to MAX at which the text fits."),
    ("component", "align"): _E("align left|center|right", "Each text line aligned on its own inside the box.", "left"),
    ("component", "region"): _E("region full|box|anchor|mask|around", "Where the layer goes; lengths are N% or Npx.", "full"),
    ("component", "z"): _E("z N", "Stacking order (ties: declaration order).", "0"),
    ("component", "seed"): _E("seed N", "This component's seed.", "derived from the brief's seed and the name"),
    ("component", "steps"): _E("steps N", "Denoising steps for this component.", "the brief's"),
    ("component", "strength"): _E("strength F", "How much of the pixels below is repainted, in (0, 1].", "1"),
    ("component", "context"): _E("context scene|none",
                                 "Generate over the pixels below (a 32 px padded crop), or alone.", "scene"),
    ("component", "fit"): _E("fit contain|cover|stretch", "How an asset fills its region.", "contain"),
    ("component", "opacity"): _E("opacity F | N%", "The layer's alpha.", "1"),
    ("component", "feather"): _E("feather Npx", "Edge softness of the layer's mask.", "0"),
    ("component", "color"): _E("color NAME within ΔE  ·  color NAME (text)",
                               "On an asset: the SKU colour, with the CIEDE2000 ΔE the product must stay within "
                               "(0 < ΔE ≤ 30). On a text: the text's colour.", "none · black"),
    ("component", "resolution"): _E("resolution native|exact",
                                    "With a model backend: denoise at the model's native size (a small crop resampled "
                                    "up and back, a large canvas generated at native size and refined up), or at the "
                                    "box's own size.", "native"),
    ("component", "guidance"): _E("guidance F", "Classifier-free guidance scale of a model backend; 0 for turbo models.",
                                  "the model's pipeline default"),
    ("component", "scheduler"): _E("scheduler NAME", "A diffusers scheduler class (allow-listed), built from the "
                                   "model's scheduler config.", "the model's"),
    ("component", "lora"): _E('lora "file.safetensors" weight F', "LoRA weights applied to the model for this "
                              "component (after the brief's own); safetensors only, inside the project; pinned in "
                              "brief.lock.", "none"),
    ("component", "weight"): _E("weight F", "How strongly a LoRA applies (−4 to 4; 1 as trained)."),
    ("component", "refine"): _E('refine "prompt" strength F', "On a placed asset: relight it into the scene, image "
                                "to image inside its own mask at `strength` (0–1]; `check color` measures the result; "
                                "a refined asset is never re-placed in an output.", "none"),
    ("component", "control"): _E("control canny|depth from COMPONENT [weight F]", "Generate this layer with a "
                                 "ControlNet conditioned on a placed asset's or text's edges (canny) or silhouette depth "
                                 "(depth), to keep its shape; SD 1.x and SDXL models.", "weight 1"),
    ("component", "from"): _E("from COMPONENT", "The placed asset or text whose edges or depth guide the ControlNet."),
    ("component", "within"): _E("within ΔE", "The CIEDE2000 ΔE a colour must stay within (0 < ΔE ≤ 30)."),
    ("region", "full"): _E("full", "The whole canvas."),
    ("region", "box"): _E("box X0 Y0 X1 Y1", "A box by its corners, each N% or Npx."),
    ("region", "anchor"): _E("anchor POS W x H [margin M]",
                             "A box of a size anchored at a position: top-left, top, top-right, left, center, right, "
                             "bottom-left, bottom, bottom-right."),
    ("region", "margin"): _E("margin M", "The distance from the anchored edges.", "0"),
    ("region", "mask"): _E('mask "m.png"', "A mask image: white is inside."),
    ("region", "around"): _E("around COMPONENT Npx", "A band of N px around a component's alpha."),
    ("edit", "inpaint"): _E("inpaint REGION", "Repaint a region (needs `prompt`; takes negative, seed, steps, strength)."),
    ("edit", "remove"): _E("remove REGION", "Remove what is in a region (classical in-painting with the draft backend)."),
    ("edit", "recolor"): _E("recolor COMPONENT to COLOR", "Transfer a component's colour to an exact brand colour, in Lab."),
    ("edit", "to"): _E("to COLOR", "A brand colour's name, a hex colour, or AXIS.FIELD."),
    ("edit", "harmonize"): _E("harmonize COMPONENT band N", "Blend a component's edge into the scene over a band of N px."),
    ("edit", "band"): _E("band N", "The width of the band, in px."),
    ("check", "palette"): _E("check palette [within ΔE] [coverage N%]",
                             "The share of pixels within ΔE of a brand colour.", "within 5, coverage 80%"),
    ("check", "coverage"): _E("coverage N%", "The share of pixels that must be within ΔE of a brand colour.", "80%"),
    ("check", "color"): _E("check color COMPONENT", "The component's colour is within its `color … within ΔE`; "
                           "a failure prints the `recolor` edit that fixes it."),
    ("check", "clearspace"): _E("check clearspace COMPONENT [k]", "Nothing else within k × the logo's height around it.",
                                "the brand's clearspace, else 0.5"),
    ("check", "safezone"): _E("check safezone [M]", "Logos and text stay out of the margin.",
                              "the output's safezone, else the brand's, else 5%"),
    ("check", "minsize"): _E("check minsize COMPONENT W x H", "The component is at least this size in every output."),
    ("check", "contrast"): _E("check contrast TEXT [ratio]",
                              "WCAG 2 contrast of a text against what lies under it.", "4.5, or 3.0 for large text"),
    ("check", "visible"): _E("check visible COMPONENT", "The component is whole inside every output."),
    ("output", "place"): _E("place COMPONENT REGION",
                            "Lay out an asset or text component again in this output's own pixels.",
                            "where the mode maps it"),
    ("output", "safezone"): _E("safezone T [R [B L]]", "This output's safe zone, CSS order, each Npx or N%.", "the brand's"),
    ("output", "format"): _E("format png|jpeg|webp [quality N] [max SIZE]", "The delivered file's format.", "png"),
    ("output", "quality"): _E("quality N", "JPEG or WebP quality, 1–100.", "90"),
    ("output", "max"): _E("max SIZE", "A file-size cap such as 500KB, 1.5MB or 2MiB; quality is lowered to meet it."),
    ("output", "file"): _E('file "template"', "The delivered file's name; knows {axis…}, {brief}, {output}, {variant}.",
                           "NAME.png / .jpg / .webp"),
}

# what the words that stand where a name is expected mean (values of settings)
VALUES: dict[str, str] = {
    "scene": "generated over the pixels below it", "none": "generated alone",
    "contain": "the asset fits inside its region", "cover": "the asset covers its region (cut at the edges)",
    "stretch": "the asset is stretched to its region",
    "outpaint": "fit the canvas and paint the margins", "crop": "cover the output and cut", "fit": "fit and pad",
    "left": "lines aligned left", "center": "centred: a text's lines (align), a box at the canvas's centre (anchor)", "right": "lines aligned right",
    "png": "lossless PNG", "jpeg": "baseline JPEG", "webp": "lossy WebP",
    "canny": "conditioned on the guiding layer's edges", "depth": "conditioned on the guiding layer's silhouette depth",
    "native": "denoised at the model's native size", "exact": "denoised at the box's own size",
    "draft": "the model-free backend (procedural placeholders, classical edits)",
    **{pos: f"anchored at the canvas's {pos.replace('-', ' ')}" + (" corner" if "-" in pos else " edge")
       for pos in ("top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right")},
    "diffusers": "Stable Diffusion through diffusers, from a local folder or a pinned hub id",
    "openai": "OpenAI's Images API (a pinned model id; OPENAI_API_KEY from the environment)",
    "gemini": "Gemini's image models through generateContent (a pinned model id; GEMINI_API_KEY)",
    "bfl": "Black Forest Labs' FLUX API: Fill, Kontext, text to image (a pinned model id; BFL_API_KEY)",
    "stability": "Stability AI's Stable Image API: SD 3.5, Core, Ultra; inpaint and erase (STABILITY_API_KEY)",
}


def lookup(block: str, keyword: str) -> Entry | None:
    """The entry for `keyword` written in `block` (a region word in any block with regions)."""
    return REFERENCE.get((block, keyword)) or REFERENCE.get(("region", keyword)) or REFERENCE.get(("brief", keyword))


def markdown(entry: Entry) -> str:
    default = f"\n\nDefault: {entry.default}" if entry.default else ""
    return f"```brief\n{entry.syntax}\n```\n{entry.meaning}{default}"
