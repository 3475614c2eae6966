/* The cheap stage's tree walk: an XGBoost binary:logistic booster as one array of 16-byte nodes
   (live_runtime/compiled.py lays it out), walked tree by tree for a block of rows at a time. One tree's nodes
   are read for all rows of the block while they are in cache, and the rows' walks are independent, so the
   CPU overlaps them; a leaf points at itself on both sides, so every walk takes its tree's depth in steps,
   without a branch on reaching a leaf. Feature values are compared as float32, as XGBoost compares them. */
#include <math.h>
#include <stdint.h>

#define BLOCK 64

typedef struct {
    float value;          /* the split threshold (go left when x < value); the leaf's value on a leaf */
    int32_t left, right;  /* node indices into the whole array; a leaf's own index */
    int16_t feature;
    uint8_t default_left; /* where a missing value goes */
    uint8_t pad;
} node_t;

void forest_predict(const double *x, int64_t n_rows, int64_t n_features, const node_t *nodes,
                    const int32_t *root, const int32_t *depth, int64_t n_trees, double base_margin,
                    double *out)
{
    float xf[BLOCK * n_features];
    int32_t at[BLOCK];
    double margin[BLOCK];
    for (int64_t start = 0; start < n_rows; start += BLOCK) {
        int64_t rows = n_rows - start < BLOCK ? n_rows - start : BLOCK;
        for (int64_t i = 0; i < rows * n_features; i++)
            xf[i] = (float)x[start * n_features + i];
        for (int64_t r = 0; r < rows; r++)
            margin[r] = base_margin;
        for (int64_t t = 0; t < n_trees; t++) {
            for (int64_t r = 0; r < rows; r++)
                at[r] = root[t];
            for (int32_t d = 0; d < depth[t]; d++) {
                for (int64_t r = 0; r < rows; r++) {
                    const node_t *n = nodes + at[r];
                    float v = xf[r * n_features + n->feature];
                    int go_left = isnan(v) ? n->default_left : v < n->value;
                    at[r] = go_left ? n->left : n->right;
                }
            }
            for (int64_t r = 0; r < rows; r++)
                margin[r] += nodes[at[r]].value;
        }
        for (int64_t r = 0; r < rows; r++)
            out[start + r] = 1.0 / (1.0 + exp(-margin[r]));
    }
}
