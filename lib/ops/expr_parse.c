/*
 * expr_parse.c - the expression language's text into a tree of nodes.
 *
 * Python's grammar and precedence for the subset sharr accepts (lowest
 * first): one comparison (< <= > >= == !=; chains are refused), |, ^, &,
 * + -, * / // %, unary - + ~, ** (right-associative, binding tighter than
 * a unary minus on its left), then numbers, names, calls and parentheses.
 * The text is untrusted: nesting, length and node counts are bounded, and
 * every error names the column with a caret under it.
 */
#define _GNU_SOURCE
#include "expr.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT 65536
#define MAX_NODES 4096
#define MAX_DEPTH 100

struct parser {
    struct sharr_expr *e;
    const char *s;
    size_t pos;
    int depth;
};

/* Function names, their operation and argument count. */
static const struct {
    const char *name;
    int op, nargs;
} funcs[] = {
    {"abs", EX_ABS, 1}, {"real", EX_REAL, 1}, {"imag", EX_IMAG, 1},
    {"conj", EX_CONJ, 1}, {"angle", EX_ANGLE, 1}, {"sqrt", EX_SQRT, 1},
    {"exp", EX_EXP, 1}, {"expm1", EX_EXPM1, 1}, {"log", EX_LOG, 1},
    {"log1p", EX_LOG1P, 1}, {"log10", EX_LOG10, 1}, {"sin", EX_SIN, 1},
    {"cos", EX_COS, 1}, {"tan", EX_TAN, 1}, {"arcsin", EX_ARCSIN, 1},
    {"arccos", EX_ARCCOS, 1}, {"arctan", EX_ARCTAN, 1},
    {"arctan2", EX_ARCTAN2, 2}, {"sinh", EX_SINH, 1}, {"cosh", EX_COSH, 1},
    {"tanh", EX_TANH, 1}, {"floor", EX_FLOOR, 1}, {"ceil", EX_CEIL, 1},
    {"round", EX_ROUND, 1}, {"minimum", EX_MINIMUM, 2},
    {"maximum", EX_MAXIMUM, 2}, {"clip", EX_CLIP, 3},
    {"where", EX_WHERE, 3}, {"isnan", EX_ISNAN, 1}, {"isinf", EX_ISINF, 1},
    {"isfinite", EX_ISFINITE, 1}, {"rowsum", EX_ROWSUM, 1},
    {"rowmean", EX_ROWMEAN, 1}, {"rowmin", EX_ROWMIN, 1},
    {"rowmax", EX_ROWMAX, 1}, {"rownorm", EX_ROWNORM, 1},
};

/* Casts: sharr's dtype names and NumPy's sized ones. */
static const struct {
    const char *name;
    int dt;
} casts[] = {
    {"i8", SHARR_I8}, {"i16", SHARR_I16}, {"i32", SHARR_I32},
    {"i64", SHARR_I64}, {"u8", SHARR_U8}, {"u16", SHARR_U16},
    {"u32", SHARR_U32}, {"u64", SHARR_U64}, {"f32", SHARR_F32},
    {"f64", SHARR_F64}, {"c64", SHARR_C64}, {"c128", SHARR_C128},
    {"int8", SHARR_I8}, {"int16", SHARR_I16}, {"int32", SHARR_I32},
    {"int64", SHARR_I64}, {"uint8", SHARR_U8}, {"uint16", SHARR_U16},
    {"uint32", SHARR_U32}, {"uint64", SHARR_U64}, {"float32", SHARR_F32},
    {"float64", SHARR_F64}, {"complex64", SHARR_C64},
    {"complex128", SHARR_C128},
};

/* "syntax error at column C: WHY" and the text with a caret under C. */
static int syntax(const struct parser *p, size_t col, const char *why)
{
    size_t n = strlen(p->s);
    int show = n > 200 ? 200 : (int)n;
    size_t caret = col > 200 ? 200 : col;

    return sharr__fail(SHARR_EINVAL, "syntax error at column %zu: %s\n"
                       "  %.*s%s\n  %*s^", col + 1, why, show, p->s,
                       n > 200 ? "..." : "", (int)caret, "");
}

static void skip_blanks(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
           p->s[p->pos] == '\n' || p->s[p->pos] == '\r')
        p->pos++;
}

static int new_node(struct parser *p, int kind, size_t col)
{
    struct sharr_expr *e = p->e;

    if (e->nnodes >= MAX_NODES)
        return syntax(p, col, "expression too long");
    if (e->nnodes == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 64;
        struct ex_node *n = realloc(e->nodes, cap * sizeof *n);
        if (!n)
            return sharr__fail(SHARR_ENOMEM, "out of memory");
        e->nodes = n;
        e->cap = cap;
    }
    memset(&e->nodes[e->nnodes], 0, sizeof e->nodes[0]);
    e->nodes[e->nnodes].kind = kind;
    e->nodes[e->nnodes].col = (int)col;
    return (int)e->nnodes++;
}

static int op_node(struct parser *p, int op, size_t col, int nargs,
                   const int *args)
{
    int k = new_node(p, N_OP, col);
    if (k < 0)
        return k;
    p->e->nodes[k].op = op;
    p->e->nodes[k].nargs = nargs;
    for (int i = 0; i < nargs; i++)
        p->e->nodes[k].arg[i] = args[i];
    return k;
}

static int name_index(struct parser *p, const char *name, size_t len)
{
    struct sharr_expr *e = p->e;
    char **names;

    for (size_t i = 0; i < e->nnames; i++)
        if (strlen(e->names[i]) == len && memcmp(e->names[i], name, len) == 0)
            return (int)i;
    if (!(names = realloc(e->names, (e->nnames + 1) * sizeof *names)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    e->names = names;
    if (!(names[e->nnames] = strndup(name, len)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    return (int)e->nnames++;
}

static int parse_expr(struct parser *p);
static int parse_unary(struct parser *p);

/* A number as Python writes it: 12, 1.5, .5, 1e-3, 2j, 1.5e3J. */
static int parse_number(struct parser *p)
{
    const char *s = p->s + p->pos;
    size_t col = p->pos, n = 0;
    bool is_float = false;
    char buf[128];
    int k;

    while (isdigit((unsigned char)s[n]))
        n++;
    if (s[n] == '.') {
        is_float = true;
        n++;
        while (isdigit((unsigned char)s[n]))
            n++;
    }
    if ((s[n] == 'e' || s[n] == 'E') &&
        (isdigit((unsigned char)s[n + 1]) ||
         ((s[n + 1] == '+' || s[n + 1] == '-') &&
          isdigit((unsigned char)s[n + 2])))) {
        is_float = true;
        n += 2;
        while (isdigit((unsigned char)s[n]))
            n++;
    }
    if (n >= sizeof buf)
        return syntax(p, col, "number too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    if ((k = new_node(p, N_NUM, col)) < 0)
        return k;
    struct ex_node *nd = &p->e->nodes[k];
    if (s[n] == 'j' || s[n] == 'J') {
        nd->numkind = K_COMPLEX;
        nd->im = strtod(buf, NULL);
        n++;
    } else if (is_float) {
        nd->numkind = K_FLOAT;
        nd->re = strtod(buf, NULL);
    } else {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno || v > (unsigned long long)INT64_MAX)
            return syntax(p, col, "integer too large (the limit is 2^63-1)");
        nd->numkind = K_INT;
        nd->ival = (int64_t)v;
    }
    if (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '.')
        return syntax(p, col + n, "unexpected character after a number");
    p->pos += n;
    return k;
}

static int parse_args(struct parser *p, const char *fname, int want,
                      int *args, size_t col)
{
    char why[128];
    int n = 0, k;

    p->pos++; /* '(' */
    skip_blanks(p);
    if (p->s[p->pos] != ')') {
        for (;;) {
            if (n == 3)
                break;
            if ((k = parse_expr(p)) < 0)
                return k;
            args[n++] = k;
            skip_blanks(p);
            if (p->s[p->pos] != ',')
                break;
            p->pos++;
        }
    }
    skip_blanks(p);
    if (p->s[p->pos] != ')')
        return syntax(p, p->pos, n == 3 ? "too many arguments"
                                        : "expected ',' or ')'");
    if (n != want) {
        snprintf(why, sizeof why, "%s takes %d argument%s, not %d", fname,
                 want, want == 1 ? "" : "s", n);
        return syntax(p, col, why);
    }
    p->pos++;
    return 0;
}

/* A call of a function or a cast: NAME is at [col, col + len). */
static int parse_call(struct parser *p, const char *name, size_t len,
                      size_t col)
{
    int args[3], err;
    char why[96];

    for (size_t i = 0; i < sizeof casts / sizeof casts[0]; i++) {
        if (strlen(casts[i].name) != len || memcmp(casts[i].name, name, len))
            continue;
        if ((err = parse_args(p, casts[i].name, 1, args, col)) < 0)
            return err;
        int k = op_node(p, EX_CAST, col, 1, args);
        if (k >= 0)
            p->e->nodes[k].cast_dt = casts[i].dt;
        return k;
    }
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++) {
        if (strlen(funcs[i].name) != len || memcmp(funcs[i].name, name, len))
            continue;
        if ((err = parse_args(p, funcs[i].name, funcs[i].nargs, args, col)) < 0)
            return err;
        return op_node(p, funcs[i].op, col, funcs[i].nargs, args);
    }
    snprintf(why, sizeof why, "unknown function '%.*s'", len > 40 ? 40 :
             (int)len, name);
    return syntax(p, col, why);
}

static int parse_name(struct parser *p)
{
    const char *s = p->s + p->pos;
    size_t col = p->pos, n = 0;
    int k, idx;

    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    p->pos += n;
    skip_blanks(p);
    if (p->s[p->pos] == '(')
        return parse_call(p, s, n, col);
    if ((n == 3 && memcmp(s, "inf", 3) == 0) ||
        (n == 3 && memcmp(s, "nan", 3) == 0)) {
        if ((k = new_node(p, N_NUM, col)) < 0)
            return k;
        p->e->nodes[k].numkind = K_FLOAT;
        p->e->nodes[k].re = s[0] == 'i' ? INFINITY : NAN;
        return k;
    }
    if ((idx = name_index(p, s, n)) < 0)
        return idx;
    if ((k = new_node(p, N_NAME, col)) >= 0)
        p->e->nodes[k].name = idx;
    return k;
}

/* 'any.valid-name' or "any.valid-name": an array name as it is. */
static int parse_quoted(struct parser *p)
{
    char q = p->s[p->pos];
    size_t col = p->pos, start = ++p->pos;
    int k, idx;

    while (p->s[p->pos] && p->s[p->pos] != q)
        p->pos++;
    if (!p->s[p->pos])
        return syntax(p, col, "unterminated quoted name");
    if (p->pos == start)
        return syntax(p, col, "empty quoted name");
    if ((idx = name_index(p, p->s + start, p->pos - start)) < 0)
        return idx;
    p->pos++;
    if ((k = new_node(p, N_NAME, col)) >= 0)
        p->e->nodes[k].name = idx;
    return k;
}

static int parse_primary(struct parser *p)
{
    char c;
    int k;

    skip_blanks(p);
    c = p->s[p->pos];
    if (isdigit((unsigned char)c) ||
        (c == '.' && isdigit((unsigned char)p->s[p->pos + 1])))
        return parse_number(p);
    if (isalpha((unsigned char)c) || c == '_')
        return parse_name(p);
    if (c == '\'' || c == '"')
        return parse_quoted(p);
    if (c == '(') {
        size_t col = p->pos++;
        if ((k = parse_expr(p)) < 0)
            return k;
        skip_blanks(p);
        if (p->s[p->pos] != ')')
            return syntax(p, p->pos, p->s[p->pos] ? "expected ')'"
                          : "missing ')' for the '(' opened before");
        (void)col;
        p->pos++;
        return k;
    }
    if (!c)
        return syntax(p, p->pos, "unexpected end of the expression");
    return syntax(p, p->pos, "expected a number, a name, a call or '('");
}

static int parse_power(struct parser *p)
{
    int args[2], k;
    size_t col;

    if ((args[0] = parse_primary(p)) < 0)
        return args[0];
    skip_blanks(p);
    if (p->s[p->pos] != '*' || p->s[p->pos + 1] != '*')
        return args[0];
    col = p->pos;
    p->pos += 2;
    if ((args[1] = parse_unary(p)) < 0)
        return args[1];
    k = op_node(p, EX_POW, col, 2, args);
    return k;
}

static int parse_unary(struct parser *p)
{
    int arg, op;
    size_t col;

    skip_blanks(p);
    switch (p->s[p->pos]) {
    case '-': op = EX_NEG; break;
    case '+': op = EX_POS; break;
    case '~': op = EX_INVERT; break;
    default: return parse_power(p);
    }
    col = p->pos++;
    if (++p->depth > MAX_DEPTH)
        return syntax(p, col, "expression nested too deeply");
    arg = parse_unary(p);
    p->depth--;
    if (arg < 0)
        return arg;
    return op_node(p, op, col, 1, &arg);
}

/* The binary operator at the cursor of precedence level `level` (0 '|',
 * 1 '^', 2 '&', 3 '+ -', 4 '* / // %'), its length in *len; 0 if none. */
static int binary_at(const struct parser *p, int level, size_t *len)
{
    const char *s = p->s + p->pos;

    *len = 1;
    switch (level) {
    case 0: return s[0] == '|' ? EX_OR : 0;
    case 1: return s[0] == '^' ? EX_XOR : 0;
    case 2: return s[0] == '&' ? EX_AND : 0;
    case 3: return s[0] == '+' ? EX_ADD : s[0] == '-' ? EX_SUB : 0;
    default:
        if (s[0] == '*' && s[1] != '*') return EX_MUL;
        if (s[0] == '/' && s[1] == '/') { *len = 2; return EX_FLOORDIV; }
        if (s[0] == '/') return EX_DIV;
        if (s[0] == '%') return EX_MOD;
        return 0;
    }
}

static int parse_level(struct parser *p, int level)
{
    int args[2], op;
    size_t len, col;

    if (level > 4)
        return parse_unary(p);
    if ((args[0] = parse_level(p, level + 1)) < 0)
        return args[0];
    for (;;) {
        skip_blanks(p);
        if (!(op = binary_at(p, level, &len)))
            return args[0];
        col = p->pos;
        p->pos += len;
        if ((args[1] = parse_level(p, level + 1)) < 0)
            return args[1];
        if ((args[0] = op_node(p, op, col, 2, args)) < 0)
            return args[0];
    }
}

static int comparison_at(const struct parser *p, size_t *len)
{
    const char *s = p->s + p->pos;

    *len = 2;
    if (s[0] == '<' && s[1] == '=') return EX_LE;
    if (s[0] == '>' && s[1] == '=') return EX_GE;
    if (s[0] == '=' && s[1] == '=') return EX_EQ;
    if (s[0] == '!' && s[1] == '=') return EX_NE;
    *len = 1;
    if (s[0] == '<') return EX_LT;
    if (s[0] == '>') return EX_GT;
    return 0;
}

static int parse_expr(struct parser *p)
{
    int args[2], op;
    size_t len, col;

    if (++p->depth > MAX_DEPTH)
        return syntax(p, p->pos, "expression nested too deeply");
    if ((args[0] = parse_level(p, 0)) < 0)
        return args[0];
    skip_blanks(p);
    if ((op = comparison_at(p, &len))) {
        col = p->pos;
        p->pos += len;
        if ((args[1] = parse_level(p, 0)) < 0)
            return args[1];
        skip_blanks(p);
        if (comparison_at(p, &len))
            return syntax(p, p->pos, "chained comparisons are not supported:"
                          " use parentheses and &");
        if ((args[0] = op_node(p, op, col, 2, args)) < 0)
            return args[0];
    }
    p->depth--;
    return args[0];
}

int sharr__expr_parse(const char *text, struct sharr_expr *e)
{
    struct parser p = {e, text, 0, 0};
    int k;

    if (strlen(text) > MAX_TEXT)
        return sharr__fail(SHARR_EINVAL, "expression of %zu characters: the "
                           "limit is %d", strlen(text), MAX_TEXT);
    for (size_t i = 0; text[i]; i++)
        if ((unsigned char)text[i] < 32 && !isspace((unsigned char)text[i]))
            return syntax(&p, i, "control character in the expression");
    if ((k = parse_expr(&p)) < 0)
        return k;
    skip_blanks(&p);
    if (text[p.pos] == '=')
        return syntax(&p, p.pos, "unexpected '=' (an assignment belongs "
                      "only at the start: OUT = EXPR)");
    if (text[p.pos])
        return syntax(&p, p.pos, "unexpected text after the expression");
    e->root = k;
    return 0;
}
