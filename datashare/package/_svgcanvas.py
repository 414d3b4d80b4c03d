"""matplotlib's SVG canvas, with text measured once per process rather than once per chart.

Laying out a text costs matplotlib a font lookup and a FreeType layout of the string, and
matplotlib caches the result per *renderer*, which ``savefig`` makes anew for every chart.
The report draws thousands of charts whose texts repeat (school names, tick labels,
figures such as ``93.4%``), so this canvas draws with a renderer whose measurements are
cached for the process. A measurement depends only on the string, the font properties and
whether it is math text (the SVG renderer always measures at 72 dpi), so the SVG is the same.

Imported only when a report is drawn: importing matplotlib takes a while.
"""

from __future__ import annotations

from functools import lru_cache
from typing import IO, Any

from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

_TEXT_TO_PATH = TextToPath()


@lru_cache(maxsize=16384)
def _measure(text: str, prop: FontProperties, ismath: Any) -> tuple[float, float, float]:
    return _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath)


class _Renderer(RendererSVG):
    def get_text_width_height_descent(self, s: str, prop: FontProperties, ismath: Any) -> tuple[float, float, float]:
        return _measure(s, prop.copy(), ismath)  # a copy: FontProperties is mutable


class CanvasSVG(FigureCanvasSVG):
    """``FigureCanvasSVG`` drawing into a text stream with :class:`_Renderer`."""

    def print_svg(
        self, filename: IO[str], *, bbox_inches_restore: Any = None, metadata: Any = None, **_raster: Any
    ) -> None:
        # FigureCanvasSVG.print_svg for a text stream, with the caching renderer. savefig
        # also passes what raster formats use (dpi, facecolor, ...); the SVG one ignores them.
        dpi = self.figure.dpi
        self.figure.dpi = 72
        width, height = self.figure.get_size_inches()
        renderer = MixedModeRenderer(
            self.figure, width, height, dpi,
            _Renderer(width * 72, height * 72, filename, image_dpi=dpi, metadata=metadata),
            bbox_inches_restore=bbox_inches_restore,
        )
        self.figure.draw(renderer)
        renderer.finalize()
