// colormap.c: see colormap.h.
// viridis is stored as 33 anchors of the published map (matplotlib's _cm_listed.py _viridis_data,
// CC0 by Stéfan van der Walt and Nathaniel Smith), taken at entries round(k * 255 / 32) of its
// 256-entry table and interpolated linearly in sRGB: the result differs from the 256-entry table
// by at most 2/255 per channel (the heatmap colorbar is checked against matplotlib in tests/py/test_viz.py).
#include "render/colormap.h"
#include <math.h>

static const float viridis_anchor[33][3] = {
    {68.09f, 1.24f, 84.00f}, {70.64f, 12.84f, 95.81f}, {71.99f, 24.21f, 106.42f},
    {72.14f, 34.66f, 115.62f}, {71.10f, 44.75f, 123.27f}, {69.00f, 54.59f, 129.30f},
    {66.04f, 64.14f, 133.81f}, {62.47f, 73.36f, 137.00f}, {58.58f, 82.20f, 139.16f},
    {54.65f, 90.68f, 140.55f}, {50.85f, 98.84f, 141.43f}, {47.32f, 106.74f, 141.97f},
    {44.04f, 114.44f, 142.26f}, {40.97f, 122.03f, 142.32f}, {38.00f, 129.55f, 142.10f},
    {35.13f, 137.06f, 141.50f}, {32.53f, 144.57f, 140.39f}, {30.89f, 151.15f, 138.88f},
    {30.62f, 158.65f, 136.41f}, {33.17f, 166.10f, 133.01f}, {39.24f, 173.45f, 128.56f},
    {48.73f, 180.63f, 122.98f}, {61.04f, 187.57f, 116.20f}, {75.60f, 194.20f, 108.18f},
    {91.99f, 200.42f, 98.89f}, {109.90f, 206.16f, 88.35f}, {129.10f, 211.34f, 76.59f},
    {149.35f, 215.90f, 63.72f}, {170.35f, 219.81f, 50.05f}, {191.73f, 223.11f, 36.52f},
    {212.99f, 225.94f, 26.17f}, {233.64f, 228.50f, 25.68f}, {253.28f, 231.07f, 36.70f},
};

static double clamp01(double t) { return t > 0 ? (t < 1 ? t : 1) : 0; } // NaN -> 0

static uint8_t to_byte(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v)); }

ms_rgb ms_cmap_viridis(double t) {
    // the table entry matplotlib would pick, then interpolate between the bracketing anchors
    double e = clamp01(t) * 255.0;
    int k = 0;
    while (k < 31 && e > round((k + 1) * 255.0 / 32.0)) k++;
    double e0 = round(k * 255.0 / 32.0), e1 = round((k + 1) * 255.0 / 32.0);
    double u = (e - e0) / (e1 - e0);
    const float *a = viridis_anchor[k], *b = viridis_anchor[k + 1];
    return MS_RGB(to_byte(a[0] + u * (b[0] - a[0])), to_byte(a[1] + u * (b[1] - a[1])),
                  to_byte(a[2] + u * (b[2] - a[2])));
}

ms_rgb ms_cmap_orange(double t) {
    t = clamp01(t);
    // white -> (255, 140, 0): the hue stays orange; lightness falls monotonically with t
    return MS_RGB(255, to_byte(255 - t * 115), to_byte(255 - t * 255));
}

ms_rgb ms_cmap_tab10(int i) {
    static const uint8_t t[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                     {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                     {188, 189, 34}, {23, 190, 207}};
    const uint8_t *c = t[((i % 10) + 10) % 10];
    return MS_RGB(c[0], c[1], c[2]);
}

int ms_rgb_luma(ms_rgb c) { return (int)lround(0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b); }
