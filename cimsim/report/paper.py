"""The paper style of the figures (`--style paper`): one column of a two-column journal.

A figure drawn for the screen is resized to the column's width (the page's for several
panels), every text set to the journal's smallest legible size, long texts wrapped, its
legends gathered under the panels, and laid out by matplotlib's constrained layout. Saved at
exactly that size, so placed at 100% in a paper its text is 8 pt. Where tick labels of an
axis would touch at that size the figure grows taller (row labels) or stands them upright
(column labels), so no two overlap. The checks the tests make (`texts_outside`,
`touching_tick_labels`, `touching_annotations`) are here too.
"""
from __future__ import annotations

import textwrap

from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import AutoLocator, MaxNLocator

COLUMN_WIDTH_IN = 3.5      # one column of IEEE / ACM two-column pages (3.5 in, 88.9 mm)
PAGE_WIDTH_IN = 7.16       # both columns (IEEE's figure* width): figures of several panels
FONT_PT = 8.0              # the smallest text those journals accept in figures
MIN_HEIGHT_IN = 2.4
MAX_HEIGHT_IN = 9.0        # a column page's text height is ~9.5 in
_CHAR_EM = 0.55            # mean advance of a character in DejaVu Sans, in em (for wrapping)


def _wrap(t: Text, width_in: float) -> None:
    """Break a one-line text into lines that fit width_in at FONT_PT."""
    chars = max(12, int(width_in * 72 / (FONT_PT * _CHAR_EM)))
    lines = t.get_text().split("\n")
    if any(len(line) > chars for line in lines):
        t.set_text("\n".join(textwrap.fill(line, chars) for line in lines))


def tick_labels(ax, which: str) -> list[Text]:
    """The tick labels an axis draws: with text, at ticks inside the view limits."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) * 1e-9
    return [t for loc, t in zip(axis.get_ticklocs(), axis.get_ticklabels())
            if t.get_text() and t.get_visible() and lo - span <= loc <= hi + span]


def _annotations(ax) -> list[Text]:
    """Texts drawn inside an axes (value labels on bars, notes)."""
    return [t for t in ax.texts if t.get_text() and t.get_visible()]


def _legends_below(fig: Figure, width: float) -> None:
    """The axes' legends as one figure legend under the panels (entries of the same label
    once), so no legend covers data or the values written beside bars."""
    handles: dict[str, object] = {}
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        for h, t in zip(leg.legend_handles, leg.get_texts()):
            handles.setdefault(t.get_text(), h)
        leg.remove()
    if not handles:
        return
    ncols = min(len(handles), 2 if width <= COLUMN_WIDTH_IN else 4)
    labels = []
    for text in handles:
        t = Text(text=text)
        _wrap(t, width * 0.8 / ncols)
        labels.append(t.get_text())
    fig.legend(list(handles.values()), labels, loc="outside lower center", ncols=ncols, fontsize=FONT_PT)


def _outside_legends(fig: Figure) -> None:
    """A figure legend placed beside the figure (saved by a tight bounding box on screen)
    moves inside the page: constrained layout's "outside right" slot."""
    for leg in list(fig.legends):
        handles, labels = leg.legend_handles, [t.get_text() for t in leg.get_texts()]
        title = leg.get_title().get_text()
        leg.remove()
        fig.legend(handles, labels, loc="outside right upper", title=title or None, fontsize=FONT_PT,
                   title_fontsize=FONT_PT)


def _panels(fig: Figure) -> list:
    """The figure's plotting axes (not its colorbars)."""
    return [ax for ax in fig.axes if not hasattr(ax, "_colorbar")]


def drawn_texts(fig: Figure) -> list[Text]:
    """Every text the figure draws (tick labels only inside the view limits)."""
    ticks = {id(t) for ax in fig.axes for a in (ax.xaxis, ax.yaxis) for t in a.get_ticklabels()}
    shown = {id(t) for ax in fig.axes for w in "xy" for t in tick_labels(ax, w)}
    return [t for t in fig.findobj(Text)
            if t.get_text() and t.get_visible() and (id(t) not in ticks or id(t) in shown)]


def texts_outside(fig: Figure) -> list[str]:
    """The drawn texts that reach beyond the figure's edges (half a point of slack)."""
    fig.canvas.draw()
    r, fb, slack = fig.canvas.get_renderer(), fig.bbox, fig.dpi / 144
    out = []
    for t in drawn_texts(fig):
        b = t.get_window_extent(r)
        if b.x0 < fb.x0 - slack or b.x1 > fb.x1 + slack or b.y0 < fb.y0 - slack or b.y1 > fb.y1 + slack:
            out.append(t.get_text())
    return out


def _pairs(texts: list[Text], renderer, pad_pt: float = 0.0) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes (grown by pad_pt on each side) overlap."""
    pad = pad_pt * renderer.points_to_pixels(1.0)
    boxes = [t.get_window_extent(renderer).padded(pad) for t in texts]
    return [(texts[i].get_text(), texts[j].get_text()) for i in range(len(boxes))
            for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]


def _touching(texts: list[Text], renderer, pad_pt: float = 0.0) -> bool:
    return bool(_pairs(texts, renderer, pad_pt))


def _near(ax) -> list[Text]:
    """The texts inside an axes and its title."""
    return _annotations(ax) + ([ax.title] if ax.title.get_text() else [])


def touching_tick_labels(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of tick labels of one axis that overlap."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [p for ax in fig.axes for w in "xy" for p in _pairs(tick_labels(ax, w), r)]


def touching_annotations(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of texts inside one axes (values on bars, notes, its title) that overlap."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [p for ax in fig.axes for p in _pairs(_near(ax), r)]


def to_column(fig: Figure) -> Figure:
    """Resize `fig` in place for a two-column journal: one column (COLUMN_WIDTH_IN) for a
    single panel, the page (PAGE_WIDTH_IN) for several; every text FONT_PT; constrained
    layout with the legends beside or below the data; taller until no row labels overlap and
    no text leaves the figure; touching column labels and bar values upright."""
    w, h = fig.get_size_inches()
    single = len(_panels(fig)) == 1
    width = COLUMN_WIDTH_IN if single else PAGE_WIDTH_IN
    height = min(MAX_HEIGHT_IN, max(MIN_HEIGHT_IN, h * width / w))
    fig.set_size_inches(width, height)
    for t in fig.findobj(Text):
        if t.get_text():
            t.set_fontsize(FONT_PT)
    for ax in fig.axes:                          # ticks made later (at draw time) too
        ax.tick_params(axis="both", which="both", labelsize=FONT_PT)
    if fig._suptitle is not None:
        _wrap(fig._suptitle, width)
    for ax in fig.axes:
        room = width * ax.get_position().width
        for t in (ax.title, ax.xaxis.label, *_annotations(ax)):
            _wrap(t, room)
        _wrap(ax.yaxis.label, height * ax.get_position().height)
    try:
        fig.set_layout_engine("constrained")
    except RuntimeError:                         # a colorbar pins another layout: keep it
        pass
    _outside_legends(fig)
    _legends_below(fig, width)
    _grow(fig, width)
    r = fig.canvas.get_renderer()
    for ax in _panels(fig):                      # notes, values, title that touch: headroom
        for _ in range(4):
            if not _touching(_near(ax), r):
                break
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi * 10 if ax.get_yscale() == "log" else hi + 0.2 * (hi - lo))
            fig.canvas.draw()
    for ax in fig.axes:
        crowded = _touching(tick_labels(ax, "x"), r, pad_pt=FONT_PT / 2)
        if crowded and type(ax.xaxis.get_major_locator()) is AutoLocator:   # numbers: fewer ticks
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            fig.canvas.draw()
            crowded = _touching(tick_labels(ax, "x"), r)
        if crowded:                                                 # column labels: upright
            for t in tick_labels(ax, "x"):
                t.set_rotation(90)
                t.set_horizontalalignment("center")
                t.set_rotation_mode("default")
        values = [t for t in _annotations(ax) if t.get_ha() == "center"]
        if _touching(values, r):                               # values on narrow bars: upright
            for t in values:
                t.set_rotation(90)
                t.set_va("bottom")
    _grow(fig, width)
    return fig


def _grow(fig: Figure, width: float) -> None:
    """Make the figure taller until the row labels of every axis clear each other and every
    text is inside it (at most MAX_HEIGHT_IN)."""
    for _ in range(6):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        need = 1.0
        for ax in fig.axes:
            rows = tick_labels(ax, "y")
            if len(rows) > 1 and _touching(rows, r):
                span = ax.get_window_extent(r).height
                need = max(need, sum(t.get_window_extent(r).height for t in rows) * 1.3 / max(span, 1.0))
        fb = fig.bbox
        if need <= 1.0 and any(b.y0 < fb.y0 or b.y1 > fb.y1
                               for b in (t.get_window_extent(r) for t in drawn_texts(fig))):
            need = 1.15
        height = fig.get_size_inches()[1]
        if need <= 1.0 or height >= MAX_HEIGHT_IN:
            return
        fig.set_size_inches(width, min(MAX_HEIGHT_IN, height * need + 0.2))
