// colormap.h: colour scales for figures.
//   viridis: perceptually uniform, colour-blind safe, prints in greyscale monotonically
//            (van der Walt & Smith, matplotlib 2.0 default, released CC0).
//   orange:  white -> orange for token highlighting (as sae_vis), so zero activation is the page.
//   tab10:   categorical line colours (matplotlib/Tableau 10).
#ifndef MS_COLORMAP_H
#define MS_COLORMAP_H
#include "render/canvas.h"

// t in [0, 1] (clamped; NaN -> 0). viridis(1) is the map's extreme colour, yellow (253, 231, 37).
ms_rgb ms_cmap_viridis(double t);
ms_rgb ms_cmap_orange(double t);
ms_rgb ms_cmap_tab10(int i);
// Perceived luminance (Rec. 709 weights) in [0, 255], to choose black or white text on a colour.
int ms_rgb_luma(ms_rgb c);

#endif
