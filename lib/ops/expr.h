/*
 * expr.h - private to the expression engine (expr_parse.c, expr_eval.c),
 * and to lib/mpi, which types and runs its programs over the rows each
 * MPI rank computes (the SHARR_PRIVATE functions at the end).
 *
 * An expression is parsed once into a tree of nodes (struct sharr_expr).
 * Each evaluation types the tree against the arrays bound to its names
 * (NumPy's broadcasting and promotion, Python numbers weak) and compiles
 * it into a program (struct ex_prog): plain bytes, no pointers, so it
 * travels to the pool's workers inside the job's argument (they were
 * forked before it existed).  A worker interprets the program over tiles
 * of EX_TILE elements of its rows: one pass over memory.
 */
#ifndef SHARR_EXPR_H
#define SHARR_EXPR_H

#include "internal.h"

#include <stdint.h>

/* Value dtypes: sharr's 12, plus a boolean that only lives inside an
 * expression (comparisons, isnan ...); stored in an array it is u8 0/1. */
#define EX_BOOL 13
#define EX_NTYPES 14

#define EX_TILE 512           /* elements per tile (8 KiB of c128) */
#define EX_MAX_INS 200        /* instructions of one program */
#define EX_MAX_CONST 40       /* distinct constants of one program */
#define EX_MAX_REGS 32        /* tile registers of one program */
#define EX_MAX_INPUTS 7       /* arrays one program reads (plus its output) */

/* Operations: of the tree (parse) and of the program (eval). */
enum ex_op {
    /* binary */
    EX_ADD = 1, EX_SUB, EX_MUL, EX_DIV, EX_FLOORDIV, EX_MOD, EX_POW,
    EX_LT, EX_LE, EX_GT, EX_GE, EX_EQ, EX_NE, EX_AND, EX_OR, EX_XOR,
    EX_MINIMUM, EX_MAXIMUM, EX_ARCTAN2,
    /* unary */
    EX_NEG, EX_POS, EX_INVERT, EX_ABS, EX_REAL, EX_IMAG, EX_CONJ, EX_ANGLE,
    EX_SQRT, EX_EXP, EX_EXPM1, EX_LOG, EX_LOG1P, EX_LOG10, EX_SIN, EX_COS,
    EX_TAN, EX_ARCSIN, EX_ARCCOS, EX_ARCTAN, EX_SINH, EX_COSH, EX_TANH,
    EX_FLOOR, EX_CEIL, EX_ROUND, EX_ISNAN, EX_ISINF, EX_ISFINITE,
    /* ternary */
    EX_WHERE, EX_CLIP,
    /* per-row reductions */
    EX_ROWSUM, EX_ROWMEAN, EX_ROWMIN, EX_ROWMAX, EX_ROWNORM,
    /* casts: EX_CAST + dtype */
    EX_CAST,
    /* program only */
    EX_LOAD = 100, EX_CONST, EX_CONVERT
};

#define EX_IS_BINARY(op) ((op) >= EX_ADD && (op) <= EX_ARCTAN2)
#define EX_IS_UNARY(op) ((op) >= EX_NEG && (op) <= EX_ISFINITE)
#define EX_IS_REDUCE(op) ((op) >= EX_ROWSUM && (op) <= EX_ROWNORM)

/* ---- the tree ---- */

enum ex_kind { N_NUM, N_NAME, N_OP };

/* Python number kinds, in promotion order. */
enum { K_BOOL, K_INT, K_FLOAT, K_COMPLEX };

struct ex_node {
    int kind;                /* enum ex_kind */
    int op;                  /* N_OP: enum ex_op; EX_CAST: cast_dt too */
    int cast_dt;             /* EX_CAST: the dtype */
    int col;                 /* 0-based column in the text, for errors */
    int nargs, arg[3];       /* N_OP: child node indices */
    int name;                /* N_NAME: index into names */
    int numkind;             /* N_NUM: K_INT, K_FLOAT or K_COMPLEX */
    int64_t ival;            /* K_INT */
    double re, im;           /* K_FLOAT (re) and K_COMPLEX */
};

struct sharr_expr {
    char *text;
    struct ex_node *nodes;
    size_t nnodes, cap;
    int root;
    char **names;            /* distinct array names, first use first */
    size_t nnames;
};

/* ---- the program ---- */

struct ex_ins {
    uint8_t op;              /* enum ex_op (EX_LOAD, EX_CONST ...) */
    uint8_t dt;              /* the loop's dtype (LOAD, CONVERT: target) */
    uint8_t rdt;             /* the result's dtype */
    uint8_t reg;             /* register of the result; 255: none */
    uint8_t a, b, c;         /* operand instructions */
    uint8_t aux;             /* LOAD: input; CONST: constant; CONVERT: from */
    uint8_t with;            /* fused pairs (expr_type.c, allocate): i + 1,
                                this instruction computes instruction i's
                                result too; 255: computed by its reader;
                                0: runs alone */
};

struct ex_input {
    uint8_t slot;            /* index in the job's arrays */
    uint8_t dtype;
    uint8_t full;            /* 1: same shape as the result (contiguous) */
    uint8_t pad[5];
    int64_t stride[SHARR_MAX_NDIM]; /* elements, per result axis (0: bcast) */
};

struct ex_prog {
    uint32_t nins, nin, nregs;
    uint8_t out_slot;        /* the array written (split by rows) */
    uint8_t out_dt;          /* its dtype (the last instruction's target) */
    uint8_t reduce;          /* 0, or EX_ROW*: per-row reduction of the
                                result into out_slot, shape (rows,) */
    uint8_t ndim;            /* the result's (the reduced value's) shape */
    uint8_t stream;          /* 1: results go to the output through a
                                spare tile with non-temporal stores (for
                                an output far larger than the cache, not
                                read by the program; set for each run,
                                expr_eval.c streams()) */
    uint64_t shape[SHARR_MAX_NDIM];
    struct ex_input in[EX_MAX_INPUTS];
    struct ex_ins ins[EX_MAX_INS];
    _Alignas(8) unsigned char cst[EX_MAX_CONST][16]; /* the job copies
                             the argument 8-byte aligned: enough for every
                             element (complex are pairs of floats) */
};

/* Per-block result of an evaluation job. */
struct ex_counts {
    uint64_t zero_div;       /* integer // and % by zero, ** negative */
};

/* What a name is bound to when an expression is typed. */
struct ex_binding {
    int dtype;
    size_t ndim;
    size_t shape[SHARR_MAX_NDIM];
};

/* Where a program's input slots come from: >= 0 a name's index, < 0 the
 * temporary array of reduction program -1 - src. */
struct ex_slots {
    size_t n;
    int src[EX_MAX_INPUTS];
};

#define EX_MAX_PROGS 7

/* A typed expression: program 0 computes the result; programs 1.. compute
 * the per-row reductions it reads (each into a temporary array of
 * temp_rows elements of temp_dt), in an order where each comes after
 * those it reads. */
struct ex_plan {
    int nprog;
    struct ex_prog prog[EX_MAX_PROGS];
    struct ex_slots src[EX_MAX_PROGS];
    int last[EX_MAX_PROGS];
    int temp_dt[EX_MAX_PROGS];
    size_t temp_rows[EX_MAX_PROGS];
    int result_dt;           /* the expression's dtype (may be EX_BOOL) */
    int out_dt;              /* what is written: result_dt, u8 for bool, or
                                the dtype asked for */
    size_t ndim;
    size_t shape[SHARR_MAX_NDIM];
};

/* Type `e` against bind[0..e->nnames) and compile it (expr_type.c);
 * out_dt 0: the result's own dtype.  @return 0, SHARR_ESHAPE,
 * SHARR_EDTYPE, SHARR_ERANGE or SHARR_EINVAL (detail: what, and the
 * column). */
SHARR_PRIVATE int sharr__expr_plan(const struct sharr_expr *e,
                                   const struct ex_binding *bind, int out_dt,
                                   struct ex_plan *plan);

/* Parse (expr_parse.c). */
int sharr__expr_parse(const char *text, struct sharr_expr *e);

/* Element size of a value dtype (bool: 1). */
SHARR_PRIVATE size_t sharr__ex_size(int dt);

/* Convert n elements of dtype sdt at src (stride ss elements: 0 or 1) to
 * dtype ddt at dst, as NumPy's astype(casting='unsafe') on x86-64. */
void sharr__ex_convert(int sdt, const void *src, int ss, int ddt, void *dst,
                       size_t n);

/* Evaluate elements [e0, e0 + n) of the program's result (n <= EX_TILE
 * per call is not required) into dst (dtype p->out_dt, or the result's
 * dtype when reduce), reading the arrays at data[slot].  regs: nregs + 1
 * tile registers (the last one for p->stream). */
void sharr__ex_run(const struct ex_prog *p, void *const *data, size_t e0,
                   size_t n, void *dst, unsigned char *regs,
                   struct ex_counts *cnt);

/* For tests: whether sharr_expr_eval(e, arrays) into an output of the
 * result's dtype that is none of the inputs would stream its results
 * (expr_eval.c, streams()).  @return 1, 0, or a typing error. */
int sharr__expr_streams(const sharr_expr *e, sharr_array *const *arrays);

/* ---- for callers that cut the rows themselves (lib/mpi) ---- */

/* Split the statement "OUT = EXPR" (OUT bare or quoted) into out (size
 * bytes) and *expr (inside s), as sharr_eval() does.
 * @return 0 or SHARR_EINVAL ("expected 'OUT = EXPR'", a bad name). */
SHARR_PRIVATE int sharr__eval_split(const char *s, char *out, size_t size,
                                    const char **expr);

/* 0 if an existing OUT `name` of dt and shape takes the result of pl as
 * it is, else sharr_eval()'s SHARR_EDTYPE / SHARR_ESHAPE naming both. */
SHARR_PRIVATE int sharr__eval_mismatch(const char *name, sharr_dtype dt,
                                       size_t ndim, const size_t *shape,
                                       const struct ex_plan *pl);

/* Rows [r0, r1) of program p's result (p->reduce: of its per-row
 * reduction, r1 - r0 elements of temp_dt) into dst, in the caller, with
 * the pool's own loops.  data[slot] points at an input's row r0 when the
 * input varies along the result's first axis (it has the result's ndim
 * and rows), else at its element 0 (it is read whole).  Adds the integer
 * divisions by zero to *zero_div.  @return 0 or SHARR_ENOMEM. */
SHARR_PRIVATE int sharr__expr_rows(const struct ex_prog *p, size_t r0,
                                   size_t r1, int temp_dt, void *const *data,
                                   void *dst, uint64_t *zero_div);

#endif /* SHARR_EXPR_H */
