/*
 * statfmt.c - how the tools print a sharr_stats, in text and in JSON: the
 * one format of `sharr stat` and `sharr-mpi stat`, so that their outputs
 * can be compared line for line.
 */
#include "statfmt.h"

#include <math.h>
#include <stdio.h>

static void put_double(double v, bool json)
{
    char buf[64];
    if (json && !isfinite(v)) {
        fputs("null", stdout);
        return;
    }
    sharr_value_format(SHARR_F64, &v, buf, sizeof buf);
    fputs(buf, stdout);
}

/* A complex figure: "re+imj" in text, [re, im] in JSON. */
static void put_pair(const double v[2], bool complex, bool json)
{
    char buf[128];
    if (!complex) {
        put_double(v[0], json);
    } else if (json) {
        putchar('[');
        put_double(v[0], json);
        fputs(", ", stdout);
        put_double(v[1], json);
        putchar(']');
    } else {
        sharr_value_format(SHARR_C128, v, buf, sizeof buf);
        fputs(buf, stdout);
    }
}

static void put_elem(sharr_dtype dt, const sharr_stats *s, bool max, bool json)
{
    char buf[64];
    if (s->has_nan || s->count == 0) { /* no order, or nothing to order */
        fputs(json ? "null" : "nan", stdout);
        return;
    }
    if (json && !isfinite(max ? s->max : s->min)) {
        fputs("null", stdout); /* JSON has no inf */
        return;
    }
    sharr_value_format(dt, max ? s->max_value : s->min_value, buf, sizeof buf);
    fputs(buf, stdout);
}

void stat_print(sharr_dtype dt, const sharr_stats *s, bool json, size_t row,
                bool per_row)
{
    bool cx = sharr_dtype_kind(dt) == 'c';
    static const char *key[] = {"count", "sum", "mean", "min", "max", "norm2"};
    const char *sep = json ? ", " : "\n";

    if (json) {
        putchar('{');
        if (per_row)
            printf("\"row\": %zu, ", row);
    } else if (per_row) {
        printf("%zu", row);
        sep = " ";
    }
    for (int k = 0; k < 6; k++) {
        if (cx && (k == 3 || k == 4))
            continue; /* complex numbers have no order: no min, no max */
        if (json)
            printf("%s\"%s\": ", k ? ", " : "", key[k]);
        else if (per_row)
            fputs(sep, stdout);
        else
            printf("%-6s ", key[k]);
        switch (k) {
        case 0: printf("%zu", s->count); break;
        case 1:
            if (s->sum_exact[0]) /* an integer dtype: exact, also in JSON */
                fputs(s->sum_exact, stdout);
            else
                put_pair(s->sum, cx, json);
            break;
        case 2: put_pair(s->mean, cx, json); break;
        case 3: case 4: put_elem(dt, s, k == 4, json); break;
        default: put_double(s->norm2, json); break;
        }
        if (!json && !per_row)
            putchar('\n');
    }
    if (json)
        putchar('}');
    else if (per_row)
        putchar('\n');
}
