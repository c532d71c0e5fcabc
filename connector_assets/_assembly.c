/* Chunk assembly for connector_assets/chunking.py: units packed into chunks, windows over
 * a unit that alone exceeds the budget, and the chunks themselves; and, for Python source
 * the scanner (`_python_scan.statements`) read, the whole assembly: units, packing, classes
 * split at their members with their header repeated, windows.
 *
 * `Assembler(data, budget, overlap, bytes_per_token, chunk_type, window_kind)` holds one
 * document's bytes and the chunks made so far (`chunks`, in document order). Every
 * language packs and emits here; chunking.py builds the units of the other languages
 * (tree-sitter nodes, markdown sections, blank-line blocks) and splits their oversized
 * units through a callback. Positions are byte offsets into `data`; every range that
 * comes from Python is checked against it before a byte is read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* Anchors about every budget / ANCHOR_SPACING bytes (see `is_anchor`). Measured on 60 small
 * functions, one edited at a time (budget 200 tokens): a single edit rewrites 1.4 chunks on
 * average, 4 at worst; spacing 1 gave 1.5 and 6 with 6% fewer chunks overall, spacing 3
 * gave 1.1 and 3 with 6% more. */
#define ANCHOR_SPACING 2

/* The fields of `_python_scan.Statement` this file reads, by position. */
enum { ST_START, ST_END, ST_COMMENT, ST_NAME, ST_MEMBERS, ST_LINE_START, ST_HEADER_END, ST_FIELDS };

typedef const unsigned char *Bytes;

static PyObject *EMPTY; /* b"": no context */

typedef struct {
    PyObject_HEAD
    PyObject *data;            /* bytes */
    Bytes d;
    Py_ssize_t size;
    Py_ssize_t budget;         /* bytes */
    Py_ssize_t overlap;        /* bytes */
    Py_ssize_t bytes_per_token;
    PyTypeObject *chunk_type;  /* a tuple subclass of 6 fields (chunking.Chunk) */
    PyObject *window_kind;     /* str */
    PyObject *chunks;          /* list */
    Py_ssize_t line_pos, line_no; /* the last chunk's start and its line number */
    char *scratch;             /* a context and a piece side by side, to decode at once */
    Py_ssize_t scratch_cap;
} Assembler;

/* A byte range that chunks never cut inside unless it alone exceeds the budget. */
typedef struct {
    Py_ssize_t start, end;
    PyObject *symbol; /* owned; NULL: None */
    PyObject *item;   /* borrowed: the Python unit or the Statement it stands for; may be NULL */
} Unit;

typedef struct {
    Unit *units;
    Py_ssize_t len, cap;
} Units;

/* What one `pack_and_emit` makes: chunks of `kind`, and a unit alone over the budget split
 * by a Python callable (unit, first, rest), or, when `callable` is NULL, as a scanned
 * Python statement (`split_statement`). */
typedef struct {
    PyObject *callable;
    PyObject *kind;
} Split;

static inline int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline int is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Python's floor division for a positive divisor (budgets could in principle go negative). */
static inline Py_ssize_t floor_div(Py_ssize_t a, Py_ssize_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static inline Py_ssize_t ceil_div(Py_ssize_t a, Py_ssize_t b) { return -floor_div(-a, b); }

/* [start, end) without its trailing whitespace: the new end. */
static inline Py_ssize_t rstrip(Bytes d, Py_ssize_t start, Py_ssize_t end) {
    while (end > start && is_space(d[end - 1]))
        end--;
    return end;
}

/* The last `c` in [start, end), or -1 (bytes.rfind). */
static inline Py_ssize_t rfind(Bytes d, Py_ssize_t start, Py_ssize_t end, unsigned char c) {
    if (start >= end)
        return -1;
    const void *hit = memrchr(d + start, c, (size_t)(end - start));
    return hit ? (Bytes)hit - d : -1;
}

/* The first `c` in [start, end), or -1 (bytes.find). */
static inline Py_ssize_t find(Bytes d, Py_ssize_t start, Py_ssize_t end, unsigned char c) {
    if (start >= end)
        return -1;
    const void *hit = memchr(d + start, c, (size_t)(end - start));
    return hit ? (Bytes)hit - d : -1;
}

static Py_ssize_t count_newlines(Bytes d, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t n = 0, at;
    while ((at = find(d, start, end, '\n')) != -1) {
        n++;
        start = at + 1;
    }
    return n;
}

/* --- anchors ------------------------------------------------------------------------- */

/* CRC-32 as zlib computes it (zlib.crc32), eight bytes a step ("slicing by 8"). */
static uint32_t crc_table[8][256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++)
            crc_table[k][n] = (crc_table[k - 1][n] >> 8) ^ crc_table[0][crc_table[k - 1][n] & 0xFF];
}

static uint32_t crc32(Bytes p, Py_ssize_t len) {
    uint32_t c = 0xFFFFFFFFu;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
            crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^
            crc_table[2][(hi >> 8) & 0xFF] ^ crc_table[1][(hi >> 16) & 0xFF] ^
            crc_table[0][hi >> 24];
    }
    for (; len > 0; p++, len--)
        c = crc_table[0][(c ^ *p) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Whether a group must start at this unit, decided by the unit's bytes alone. The odds grow
 * with the unit's size (ANCHOR_SPACING * size / budget), so anchors fall about every
 * budget / ANCHOR_SPACING bytes whatever the units' sizes. CRC is linear, so near-identical
 * units share its low bits; a multiplicative (Fibonacci) hash spreads every bit into the
 * high ones. */
static int is_anchor(Bytes p, Py_ssize_t len, Py_ssize_t budget) {
    uint32_t mixed = crc32(p, len) * 0x9E3779B1u; /* modulo 2**32 */
    return (__int128)mixed * budget < (__int128)len * ANCHOR_SPACING * ((__int128)1 << 32);
}

/* --- units --------------------------------------------------------------------------- */

static int units_push(Units *units, Py_ssize_t start, Py_ssize_t end, PyObject *symbol,
                      PyObject *item) {
    if (units->len == units->cap) {
        Py_ssize_t cap = units->cap ? units->cap * 2 : 16;
        Unit *grown = PyMem_Realloc(units->units, (size_t)cap * sizeof(Unit));
        if (!grown) {
            Py_XDECREF(symbol);
            PyErr_NoMemory();
            return -1;
        }
        units->units = grown;
        units->cap = cap;
    }
    units->units[units->len++] = (Unit){start, end, symbol, item};
    return 0;
}

static void units_release(Units *units) {
    for (Py_ssize_t k = 0; k < units->len; k++)
        Py_XDECREF(units->units[k].symbol);
    PyMem_Free(units->units);
}

/* `units` stretched to cover [start, end), trimmed of trailing whitespace, empty ones
 * dropped; none gives one unit of the whole range (chunking.py's `_cover`). */
static int cover(Bytes d, Units *units, Py_ssize_t start, Py_ssize_t end) {
    if (!units->len)
        return units_push(units, start, rstrip(d, start, end), NULL, NULL);
    units->units[0].start = start;
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < units->len; k++) {
        Unit unit = units->units[k];
        unit.end = rstrip(d, unit.start, unit.end);
        if (unit.end > unit.start)
            units->units[kept++] = unit;
        else
            Py_XDECREF(unit.symbol);
    }
    units->len = kept;
    return 0;
}

static int read_position(PyObject *statement, int field, Py_ssize_t lo, Py_ssize_t hi,
                         Py_ssize_t *out) {
    *out = PyLong_AsSsize_t(PyTuple_GET_ITEM(statement, field));
    if (*out == -1 && PyErr_Occurred())
        return -1;
    if (*out < lo || *out > hi) {
        PyErr_SetString(PyExc_ValueError, "a statement lies outside its block");
        return -1;
    }
    return 0;
}

static int check_statement(PyObject *statement) {
    if (!PyTuple_Check(statement) || PyTuple_GET_SIZE(statement) < ST_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "expected _python_scan.Statement rows");
        return -1;
    }
    return 0;
}

/* The units of scanned statements `children` (a list of Statement) covering [start, end):
 * one per statement, a comment line right above a statement joined to it (it documents
 * it), each running to the next one's start; the same units a clean tree-sitter parse
 * gives (chunking.py's `_node_units`). A unit's symbol is `prefix` + the statement's
 * name, or `fallback` for a statement without one. */
static int statement_units(Bytes d, PyObject *children, Py_ssize_t start, Py_ssize_t end,
                           PyObject *prefix, PyObject *fallback, Units *units) {
    int previous_comment = 0;
    Py_ssize_t last_end = -1;
    if (!PyList_Check(children)) {
        PyErr_SetString(PyExc_TypeError, "statements must be a list");
        return -1;
    }
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(children); k++) {
        PyObject *child = PyList_GET_ITEM(children, k), *name, *symbol;
        Py_ssize_t child_start, child_end;
        if (check_statement(child) < 0 ||
            read_position(child, ST_START, start, end, &child_start) < 0)
            return -1;
        child_end = PyLong_AsSsize_t(PyTuple_GET_ITEM(child, ST_END));
        if (child_end == -1 && PyErr_Occurred())
            return -1;
        name = PyTuple_GET_ITEM(child, ST_NAME);
        if (name == Py_None) {
            symbol = Py_XNewRef(fallback);
        } else if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "a statement's name must be str or None");
            return -1;
        } else if (!(symbol = prefix ? PyUnicode_Concat(prefix, name) : Py_NewRef(name))) {
            return -1;
        }
        Unit *unit = units->len ? &units->units[units->len - 1] : NULL;
        if (unit && previous_comment && child_start == last_end) {
            unit->item = child;
            Py_XSETREF(unit->symbol, symbol);
        } else {
            if (unit)
                unit->end = child_start;
            if (units_push(units, child_start, end, symbol, child) < 0)
                return -1;
        }
        previous_comment = PyObject_IsTrue(PyTuple_GET_ITEM(child, ST_COMMENT));
        if (previous_comment < 0)
            return -1;
        if (child_end > last_end)
            last_end = child_end;
    }
    return cover(d, units, start, end);
}

/* --- chunks -------------------------------------------------------------------------- */

/* Whether `text` is all whitespace as str.isspace() sees it. */
static int all_space(PyObject *text) {
    int kind = PyUnicode_KIND(text);
    const void *chars = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, chars, i)))
            return 0;
    return n > 0;
}

/* Append [start, end) trimmed of whitespace, keeping the first line's indentation, after
 * `context`: a chunk of the given kind and symbol (NULL: None), with its line numbers and
 * its token estimate ceil(bytes / bytes_per_token). Nothing when it is all whitespace. */
static int emit(Assembler *a, Py_ssize_t start, Py_ssize_t end, PyObject *kind, PyObject *symbol,
                PyObject *context) {
    Bytes d = a->d;
    Py_ssize_t context_len = PyBytes_GET_SIZE(context), first = start, newline, length;
    PyObject *text, *items[6];
    end = rstrip(d, start, end);
    if (end <= start)
        return 0;
    while (is_space(d[first]))
        first++;
    /* Keep the indentation of a line-aligned start; a window cut mid-line starts at text. */
    newline = rfind(d, start > 0 ? start - 1 : 0, first, '\n');
    start = newline != -1 || start == 0 ? newline + 1 : first;
    length = end - start;
    if (!context_len) {
        text = PyUnicode_DecodeUTF8((const char *)d + start, length, "surrogatepass");
    } else {
        if (context_len + length > a->scratch_cap) {
            char *grown = PyMem_Realloc(a->scratch, (size_t)(context_len + length));
            if (!grown) {
                PyErr_NoMemory();
                return -1;
            }
            a->scratch = grown;
            a->scratch_cap = context_len + length;
        }
        memcpy(a->scratch, PyBytes_AS_STRING(context), (size_t)context_len);
        memcpy(a->scratch + context_len, d + start, (size_t)length);
        text = PyUnicode_DecodeUTF8(a->scratch, context_len + length, "surrogatepass");
    }
    if (!text)
        return -1;
    if (all_space(text)) {
        Py_DECREF(text);
        return 0;
    }
    if (start >= a->line_pos)
        a->line_no += count_newlines(d, a->line_pos, start);
    else
        a->line_no -= count_newlines(d, start, a->line_pos);
    a->line_pos = start;
    items[0] = text;
    items[1] = PyLong_FromSsize_t(a->line_no);
    items[2] = PyLong_FromSsize_t(a->line_no + count_newlines(d, start, end));
    items[3] = PyLong_FromSsize_t(ceil_div(context_len + length, a->bytes_per_token));
    items[4] = Py_NewRef(kind);
    items[5] = Py_NewRef(symbol ? symbol : Py_None);
    /* A tuple subclass is allocated with its items as tuple.__new__ does for one. */
    PyObject *chunk = items[1] && items[2] && items[3] ? a->chunk_type->tp_alloc(a->chunk_type, 6)
                                                       : NULL;
    if (!chunk) {
        for (int f = 0; f < 6; f++)
            Py_XDECREF(items[f]);
        return -1;
    }
    for (int f = 0; f < 6; f++)
        PyTuple_SET_ITEM(chunk, f, items[f]);
    int outcome = PyList_Append(a->chunks, chunk);
    Py_DECREF(chunk);
    return outcome;
}

/* --- windows ------------------------------------------------------------------------- */

/* Cut points of one level: listed in advance (sentence ends, ascending), or, when `points`
 * is NULL, the offsets right after each newline in [start, end), found on demand. */
typedef struct {
    const Py_ssize_t *points;
    Py_ssize_t count, start, end;
} Cuts;

static Py_ssize_t bisect_left(const Cuts *cuts, Py_ssize_t at) {
    Py_ssize_t lo = 0, hi = cuts->count;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (cuts->points[mid] < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first point at or after `target` if it is at most `limit`, else the last point
 * before `target`; -1 when there is none. */
static Py_ssize_t cuts_near(Bytes d, const Cuts *cuts, Py_ssize_t target, Py_ssize_t limit) {
    if (cuts->points) {
        Py_ssize_t index = bisect_left(cuts, target);
        if (index == cuts->count || cuts->points[index] > limit)
            index--;
        return index >= 0 ? cuts->points[index] : -1;
    }
    Py_ssize_t newline = find(d, target - 1, cuts->end, '\n');
    if (newline != -1 && newline < limit)
        return newline + 1;
    newline = rfind(d, cuts->start, target - 1, '\n');
    return newline != -1 ? newline + 1 : -1;
}

/* The first point at or after `at`; -1 when there is none. */
static Py_ssize_t cuts_first_from(Bytes d, const Cuts *cuts, Py_ssize_t at) {
    if (cuts->points) {
        Py_ssize_t index = bisect_left(cuts, at);
        return index < cuts->count ? cuts->points[index] : -1;
    }
    Py_ssize_t newline = find(d, at - 1 > cuts->start ? at - 1 : cuts->start, cuts->end, '\n');
    return newline + 1;
}

/* A cut in (floor, limit]: after a newline or space in the window's second half, else at
 * a character boundary (past `limit` only for a character wider than the budget). */
static Py_ssize_t hard_cut(Assembler *a, Py_ssize_t pos, Py_ssize_t limit, Py_ssize_t floor) {
    Bytes d = a->d;
    Py_ssize_t middle = pos + (limit - pos) / 2, at;
    if (middle < floor + 1)
        middle = floor + 1;
    if ((at = rfind(d, middle, limit, '\n')) != -1 || (at = rfind(d, middle, limit, ' ')) != -1)
        return at + 1;
    Py_ssize_t cut = limit;
    while (cut > floor + 1 && is_continuation(d[cut]))
        cut--;
    while (cut < a->size && is_continuation(d[cut]))
        cut++;
    return cut;
}

/* Where an overlap starting near `at` begins: after a space if one is close. */
static Py_ssize_t soft_start(Bytes d, Py_ssize_t at, Py_ssize_t cut) {
    Py_ssize_t space = find(d, at, cut, ' ');
    if (space != -1 && space + 1 < cut)
        return space + 1;
    while (at < cut && is_continuation(d[at]))
        at++;
    return at;
}

/* Overlapping windows over [start, end), cut at the first level with a cut point that
 * fits: sentence ends when `sentences` is given, then lines. The cut is the first point
 * past an even share of the rest, else the last that fits. A window with none is cut at
 * a newline or space in its second half, else at a character boundary. The next window
 * starts at the earliest cut point of the same level within `overlap` bytes of the cut.
 * The first window gets `first` as context, the others `rest`. */
static int windows(Assembler *a, Py_ssize_t start, Py_ssize_t end, PyObject *symbol,
                   PyObject *first, PyObject *rest, const Cuts *sentences) {
    Bytes d = a->d;
    Cuts lines = {NULL, 0, start, end};
    const Cuts *levels[2] = {sentences ? sentences : &lines, &lines};
    int nlevels = sentences ? 2 : 1;
    Py_ssize_t widest = Py_MAX(PyBytes_GET_SIZE(first), PyBytes_GET_SIZE(rest));
    Py_ssize_t budget = Py_MAX(a->budget - widest, 1);
    Py_ssize_t overlap = Py_MIN(a->overlap, budget - 1);
    Py_ssize_t pos = start, previous_end = start;
    PyObject *lead = first;
    for (;;) {
        Py_ssize_t text = pos;
        while (text < end && is_space(d[text]))
            text++;
        if (text == end)
            return 0;
        Py_ssize_t limit = pos + budget;
        if (limit >= end)
            return emit(a, pos, end, a->window_kind, symbol, lead);
        Py_ssize_t floor = Py_MAX(pos, previous_end);
        /* Aim at an even share of what is left, so the last window is not a sliver. */
        Py_ssize_t stride = budget - overlap, share = end - pos - overlap;
        Py_ssize_t target = pos + overlap + ceil_div(share, ceil_div(share, stride));
        Py_ssize_t cut = -1;
        const Cuts *points = NULL;
        for (int level = 0; level < nlevels; level++) {
            cut = cuts_near(d, levels[level], target, limit);
            if (cut > floor) {
                points = levels[level];
                break;
            }
        }
        if (!points) {
            cut = hard_cut(a, pos, limit, floor);
            if (cut > limit && pos < floor) {
                /* A wide character right after the overlap: drop the overlap instead. */
                pos = floor;
                continue;
            }
        }
        if (cut - pos + PyBytes_GET_SIZE(lead) > a->budget)
            lead = EMPTY; /* a lone wide character: no room for context beside it */
        if (emit(a, pos, cut, a->window_kind, symbol, lead) < 0)
            return -1;
        lead = rest;
        previous_end = cut;
        Py_ssize_t following = cut;
        if (overlap) {
            if (points) {
                Py_ssize_t candidate = cuts_first_from(d, points, cut - overlap);
                if (pos < candidate && candidate < cut)
                    following = candidate;
            } else {
                following = soft_start(d, Py_MAX(cut - overlap, pos + 1), cut);
            }
        }
        pos = following;
    }
}

/* --- packing ------------------------------------------------------------------------- */

/* Consecutive units grouped into index ranges [i, j) of at most `budget` bytes, written to
 * `groups` (room for 2 * count) as i, j pairs; returns how many.
 *
 * Greedy packing alone would let one edit shift every later group boundary. Here a unit
 * over half the budget always stands alone, and a run of smaller units is also cut before
 * any unit whose own bytes make it an anchor (`is_anchor`), so a change moves boundaries
 * only up to the next anchor or large unit. Groups still under a third of the budget then
 * join a neighbour that has room: the next group when the two fit, else the previous one. */
static Py_ssize_t pack(Bytes d, const Unit *u, Py_ssize_t count, Py_ssize_t budget,
                       Py_ssize_t *groups) {
    Py_ssize_t n = 0, merged = 0, first = 0;
    Py_ssize_t half = floor_div(budget, 2), tiny = floor_div(budget, 3);
    if (u[count - 1].end - u[0].start <= budget) {
        groups[0] = 0;
        groups[1] = count;
        return 1;
    }
    int first_big = u[0].end - u[0].start > half;
    for (Py_ssize_t index = 1; index < count; index++) {
        Py_ssize_t size = u[index].end - u[index].start;
        int big = size > half;
        if (first_big || big || u[index].end - u[first].start > budget ||
            is_anchor(d + u[index].start, size, budget)) {
            groups[2 * n] = first;
            groups[2 * n + 1] = index;
            n++;
            first = index;
            first_big = big;
        }
    }
    groups[2 * n] = first;
    groups[2 * n + 1] = count;
    n++;
    /* Merged in place: the merged list never outgrows the groups already read. */
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t i = groups[2 * k], j = groups[2 * k + 1];
        if (u[j - 1].end - u[i].start < tiny) {
            if (k + 1 < n && u[groups[2 * k + 3] - 1].end - u[i].start <= budget) {
                groups[2 * k + 2] = i;
                continue;
            }
            if (merged && u[j - 1].end - u[groups[2 * merged - 2]].start <= budget) {
                groups[2 * merged - 1] = j;
                continue;
            }
        }
        groups[2 * merged] = i;
        groups[2 * merged + 1] = j;
        merged++;
    }
    return merged;
}

/* The symbol of a group of units: its units' distinct symbols joined by ", ", or NULL. */
static PyObject *group_symbol(const Unit *u, Py_ssize_t i, Py_ssize_t j, int *failed) {
    PyObject *seen = PyDict_New(), *names = NULL, *joined = NULL, *separator;
    *failed = 1;
    if (!seen)
        return NULL;
    for (Py_ssize_t k = i; k < j; k++)
        if (u[k].symbol && PyDict_SetItem(seen, u[k].symbol, Py_None) < 0)
            goto done;
    if (!PyDict_GET_SIZE(seen)) {
        *failed = 0;
        goto done;
    }
    names = PyDict_Keys(seen);
    separator = names ? PyUnicode_FromString(", ") : NULL;
    if (separator) {
        joined = PyUnicode_Join(separator, names);
        Py_DECREF(separator);
    }
    if (joined) {
        *failed = 0;
        if (!PyUnicode_GET_LENGTH(joined))
            Py_CLEAR(joined);
    }
done:
    Py_DECREF(seen);
    Py_XDECREF(names);
    return joined;
}

static int split_statement(Assembler *a, const Unit *unit, PyObject *kind, PyObject *first,
                           PyObject *rest);

/* Emit the packed groups of `units`; a unit alone over the budget goes to `split` instead.
 * The first group gets `first` as context, the later ones `rest`. */
static int pack_and_emit(Assembler *a, const Units *units, const Split *split, PyObject *first,
                         PyObject *rest) {
    const Unit *u = units->units;
    Py_ssize_t count = units->len;
    if (!count)
        return 0;
    Py_ssize_t budget = a->budget - Py_MAX(PyBytes_GET_SIZE(first), PyBytes_GET_SIZE(rest));
    Py_ssize_t *groups = PyMem_Malloc((size_t)count * 2 * sizeof(Py_ssize_t));
    if (!groups) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t n = pack(a->d, u, count, budget, groups);
    int outcome = 0;
    for (Py_ssize_t k = 0; k < n && outcome == 0; k++) {
        Py_ssize_t i = groups[2 * k], j = groups[2 * k + 1];
        PyObject *context = k == 0 ? first : rest;
        if (j - i == 1 && u[i].end - u[i].start > budget) {
            if (split->callable) {
                PyObject *done = PyObject_CallFunctionObjArgs(split->callable, u[i].item, context,
                                                              rest, NULL);
                outcome = done ? 0 : -1;
                Py_XDECREF(done);
            } else {
                outcome = split_statement(a, &u[i], split->kind, context, rest);
            }
        } else if (j - i == 1) {
            outcome = emit(a, u[i].start, u[j - 1].end, split->kind, u[i].symbol, context);
        } else {
            int failed;
            PyObject *symbol = group_symbol(u, i, j, &failed);
            outcome = failed ? -1 : emit(a, u[i].start, u[j - 1].end, split->kind, symbol, context);
            Py_XDECREF(symbol);
        }
    }
    PyMem_Free(groups);
    return outcome;
}

/* A scanned Python unit over the budget: a class at its members, with the lines from its
 * `class` line through its body's leading comments repeated before the later chunks;
 * anything else (or a class with fewer than two members, or a header over half the
 * budget) in windows at lines. */
static int split_statement(Assembler *a, const Unit *unit, PyObject *kind, PyObject *first,
                           PyObject *rest) {
    PyObject *statement = unit->item, *members = NULL, *header = NULL, *prefix = NULL;
    Units parts = {NULL, 0, 0};
    int outcome = -1;
    if (Py_EnterRecursiveCall(" while splitting a Python class"))
        return -1;
    if (statement && PyTuple_GET_ITEM(statement, ST_MEMBERS) != Py_None) {
        Py_ssize_t line_start, header_end, rest_len = PyBytes_GET_SIZE(rest);
        members = PyTuple_GET_ITEM(statement, ST_MEMBERS);
        if (read_position(statement, ST_HEADER_END, 0, a->size, &header_end) < 0 ||
            read_position(statement, ST_LINE_START, 0, header_end, &line_start) < 0)
            goto done;
        Py_ssize_t line_end = rstrip(a->d, line_start, header_end);
        header = PyBytes_FromStringAndSize(NULL, rest_len + line_end - line_start + 1);
        if (!header)
            goto done;
        char *out = PyBytes_AS_STRING(header);
        memcpy(out, PyBytes_AS_STRING(rest), (size_t)rest_len);
        memcpy(out + rest_len, a->d + line_start, (size_t)(line_end - line_start));
        out[rest_len + line_end - line_start] = '\n';
        if (!PyList_Check(members)) {
            PyErr_SetString(PyExc_TypeError, "a class's members must be a list");
            goto done;
        }
        if (PyList_GET_SIZE(members) >= 2) {
            int named = unit->symbol && PyUnicode_GET_LENGTH(unit->symbol);
            if (named && !(prefix = PyUnicode_FromFormat("%U.", unit->symbol)))
                goto done;
            if (statement_units(a->d, members, unit->start, unit->end, prefix, unit->symbol,
                                &parts) < 0)
                goto done;
        }
    }
    if (!header || parts.len < 2 || PyBytes_GET_SIZE(header) > floor_div(a->budget, 2)) {
        outcome = windows(a, unit->start, unit->end, unit->symbol, first, rest, NULL);
    } else {
        Split members_split = {NULL, kind};
        outcome = pack_and_emit(a, &parts, &members_split, first, header);
    }
done:
    Py_LeaveRecursiveCall();
    units_release(&parts);
    Py_XDECREF(header);
    Py_XDECREF(prefix);
    return outcome;
}

/* --- the Python type ----------------------------------------------------------------- */

static int check_range(Assembler *a, Py_ssize_t start, Py_ssize_t end) {
    if (start < 0 || end > a->size || start > end) {
        PyErr_Format(PyExc_ValueError, "[%zd, %zd) is not inside the document", start, end);
        return -1;
    }
    return 0;
}

/* None becomes NULL; anything else must be a str. */
static int check_symbol(PyObject **symbol) {
    if (*symbol == Py_None) {
        *symbol = NULL;
    } else if (!PyUnicode_Check(*symbol)) {
        PyErr_SetString(PyExc_TypeError, "a symbol must be str or None");
        return -1;
    }
    return 0;
}

static int Assembler_init(Assembler *self, PyObject *args, PyObject *kwargs) {
    PyObject *data, *chunk_type, *window_kind;
    Py_ssize_t budget, overlap, bytes_per_token;
    static char *keywords[] = {"data",       "budget",      "overlap", "bytes_per_token",
                               "chunk_type", "window_kind", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "SnnnOU:Assembler", keywords, &data, &budget,
                                     &overlap, &bytes_per_token, &chunk_type, &window_kind))
        return -1;
    if (!PyType_Check(chunk_type) ||
        !PyType_IsSubtype((PyTypeObject *)chunk_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "chunk_type must be a tuple subclass");
        return -1;
    }
    if (budget < 1 || overlap < 0 || bytes_per_token < 1) {
        PyErr_SetString(PyExc_ValueError, "budget and bytes_per_token must be positive");
        return -1;
    }
    PyObject *chunks = PyList_New(0);
    if (!chunks)
        return -1;
    Py_XSETREF(self->data, Py_NewRef(data));
    Py_XSETREF(self->chunk_type, (PyTypeObject *)Py_NewRef(chunk_type));
    Py_XSETREF(self->window_kind, Py_NewRef(window_kind));
    Py_XSETREF(self->chunks, chunks);
    self->d = (Bytes)PyBytes_AS_STRING(data);
    self->size = PyBytes_GET_SIZE(data);
    self->budget = budget;
    self->overlap = overlap;
    self->bytes_per_token = bytes_per_token;
    self->line_pos = 0;
    self->line_no = 1;
    return 0;
}

static int Assembler_traverse(Assembler *self, visitproc visit, void *arg) {
    Py_VISIT(self->chunk_type);
    Py_VISIT(self->chunks);
    return 0;
}

static int Assembler_clear(Assembler *self) {
    Py_CLEAR(self->data);
    Py_CLEAR(self->chunk_type);
    Py_CLEAR(self->window_kind);
    Py_CLEAR(self->chunks);
    return 0;
}

static void Assembler_dealloc(Assembler *self) {
    PyObject_GC_UnTrack(self);
    Assembler_clear(self);
    PyMem_Free(self->scratch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(Assembler *self) {
    if (!self->chunks) {
        PyErr_SetString(PyExc_RuntimeError, "Assembler.__init__ was not called");
        return -1;
    }
    return 0;
}

static PyObject *Assembler_emit(Assembler *self, PyObject *args) {
    Py_ssize_t start, end;
    PyObject *kind, *symbol, *context;
    if (ready(self) < 0 || !PyArg_ParseTuple(args, "nnUOS:emit", &start, &end, &kind, &symbol,
                                             &context) ||
        check_range(self, start, end) < 0 || check_symbol(&symbol) < 0)
        return NULL;
    return emit(self, start, end, kind, symbol, context) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *Assembler_windows(Assembler *self, PyObject *args) {
    Py_ssize_t start, end;
    PyObject *symbol, *first, *rest, *sentences, *outcome = NULL;
    if (ready(self) < 0 || !PyArg_ParseTuple(args, "nnOSSO:windows", &start, &end, &symbol, &first,
                                             &rest, &sentences) ||
        check_range(self, start, end) < 0 || check_symbol(&symbol) < 0)
        return NULL;
    Cuts cuts = {NULL, 0, start, end};
    Py_ssize_t *points = NULL;
    if (sentences != Py_None) {
        if (!PyList_Check(sentences)) {
            PyErr_SetString(PyExc_TypeError, "sentences must be a list of offsets or None");
            return NULL;
        }
        cuts.count = PyList_GET_SIZE(sentences);
        points = PyMem_Malloc((size_t)(cuts.count ? cuts.count : 1) * sizeof(Py_ssize_t));
        if (!points)
            return PyErr_NoMemory();
        for (Py_ssize_t k = 0; k < cuts.count; k++) {
            points[k] = PyLong_AsSsize_t(PyList_GET_ITEM(sentences, k));
            if (points[k] == -1 && PyErr_Occurred())
                goto done;
            if (points[k] < start || points[k] > end || (k && points[k] < points[k - 1])) {
                PyErr_SetString(PyExc_ValueError, "sentences must ascend inside [start, end]");
                goto done;
            }
        }
        cuts.points = points;
    }
    if (windows(self, start, end, symbol, first, rest, points ? &cuts : NULL) == 0)
        outcome = Py_NewRef(Py_None);
done:
    PyMem_Free(points);
    return outcome;
}

static PyObject *Assembler_pack_and_emit(Assembler *self, PyObject *args) {
    PyObject *units_seq, *kind, *split, *first, *rest, *held, *outcome = NULL;
    Units units = {NULL, 0, 0};
    if (ready(self) < 0 || !PyArg_ParseTuple(args, "OUOSS:pack_and_emit", &units_seq, &kind,
                                             &split, &first, &rest))
        return NULL;
    if (!PyCallable_Check(split)) {
        PyErr_SetString(PyExc_TypeError, "split must be callable");
        return NULL;
    }
    /* A tuple of the units holds them while `split` runs, whatever it does to `units`. */
    if (!(held = PySequence_Tuple(units_seq)))
        return NULL;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(held); k++) {
        PyObject *item = PyTuple_GET_ITEM(held, k), *value;
        Py_ssize_t start, end;
        if (!(value = PyObject_GetAttrString(item, "start")))
            goto done;
        start = PyLong_AsSsize_t(value);
        Py_DECREF(value);
        if (!(value = PyObject_GetAttrString(item, "end")))
            goto done;
        end = PyLong_AsSsize_t(value);
        Py_DECREF(value);
        if (PyErr_Occurred() || check_range(self, start, end) < 0)
            goto done;
        if (!(value = PyObject_GetAttrString(item, "symbol")))
            goto done;
        if (value == Py_None) {
            Py_CLEAR(value);
        } else if (!PyUnicode_Check(value)) {
            Py_DECREF(value);
            PyErr_SetString(PyExc_TypeError, "a symbol must be str or None");
            goto done;
        }
        if (units_push(&units, start, end, value, item) < 0)
            goto done;
    }
    Split how = {split, kind};
    if (pack_and_emit(self, &units, &how, first, rest) == 0)
        outcome = Py_NewRef(Py_None);
done:
    units_release(&units);
    Py_DECREF(held);
    return outcome;
}

static PyObject *Assembler_python(Assembler *self, PyObject *args) {
    PyObject *children, *kind, *outcome = NULL;
    Units units = {NULL, 0, 0};
    if (ready(self) < 0 || !PyArg_ParseTuple(args, "O!U:python", &PyList_Type, &children, &kind))
        return NULL;
    Split how = {NULL, kind};
    if (statement_units(self->d, children, 0, self->size, NULL, NULL, &units) == 0 &&
        pack_and_emit(self, &units, &how, EMPTY, EMPTY) == 0)
        outcome = Py_NewRef(Py_None);
    units_release(&units);
    return outcome;
}

static PyMethodDef Assembler_methods[] = {
    {"emit", (PyCFunction)Assembler_emit, METH_VARARGS,
     "emit(start, end, kind, symbol, context): one chunk of [start, end) after `context`."},
    {"windows", (PyCFunction)Assembler_windows, METH_VARARGS,
     "windows(start, end, symbol, first, rest, sentences): overlapping windows over a unit."},
    {"pack_and_emit", (PyCFunction)Assembler_pack_and_emit, METH_VARARGS,
     "pack_and_emit(units, kind, split, first, rest): packed groups; split(unit, first, rest) "
     "for a unit over the budget."},
    {"python", (PyCFunction)Assembler_python, METH_VARARGS,
     "python(statements, kind): the chunks of scanned Python source."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Assembler_members[] = {
    {"chunks", T_OBJECT, offsetof(Assembler, chunks), READONLY, "The chunks, in document order."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject AssemblerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "connector_assets._assembly.Assembler",
    .tp_doc = "The chunks of one document, assembled from its units.",
    .tp_basicsize = sizeof(Assembler),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Assembler_init,
    .tp_dealloc = (destructor)Assembler_dealloc,
    .tp_traverse = (traverseproc)Assembler_traverse,
    .tp_clear = (inquiry)Assembler_clear,
    .tp_methods = Assembler_methods,
    .tp_members = Assembler_members,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_assembly", "Chunk assembly: packing, windows, chunks.", -1, NULL,
};

PyMODINIT_FUNC PyInit__assembly(void) {
    crc_init();
    if (!EMPTY && !(EMPTY = PyBytes_FromStringAndSize(NULL, 0)))
        return NULL;
    if (PyType_Ready(&AssemblerType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (!module)
        return NULL;
    if (PyModule_AddObjectRef(module, "Assembler", (PyObject *)&AssemblerType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
