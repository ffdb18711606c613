/* zoo_json.h — a minimal JSON reader for tests (objects, arrays, numbers, strings, literals),
 * enough to read scripts/zoo_reference.py's output. Test code only: no escapes beyond \" and \\,
 * numbers as double (exact for the integers below 2^53 that the reference holds). */
#ifndef KILN_TEST_ZOO_JSON_H
#define KILN_TEST_ZOO_JSON_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JV_NULL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type;

typedef struct jv {
    jv_type type;
    double num;
    char *str;
    int n;            /* items (arrays, objects) */
    struct jv *items;
    char **keys;      /* objects */
} jv;

static void jv_free(jv *v) {
    for (int i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof *v);
}

static void jv_ws(const char **p) {
    while (isspace((unsigned char)**p)) (*p)++;
}

static char *jv_string(const char **p) {
    const char *s = ++*p; /* past the quote */
    size_t n = 0;
    char *out = malloc(strlen(s) + 1);
    if (!out) return NULL;
    while (**p && **p != '"') {
        if (**p == '\\' && (*p)[1]) (*p)++;
        out[n++] = *(*p)++;
    }
    if (**p != '"') {
        free(out);
        return NULL;
    }
    (*p)++;
    out[n] = 0;
    return out;
}

static int jv_parse_at(const char **p, jv *v, int depth);

static int jv_push(jv *v, const char **p, char *key, int depth) {
    jv *ni = realloc(v->items, sizeof(jv) * (size_t)(v->n + 1));
    if (!ni) return 0;
    v->items = ni;
    if (v->type == JV_OBJ) {
        char **nk = realloc(v->keys, sizeof(char *) * (size_t)(v->n + 1));
        if (!nk) return 0;
        v->keys = nk;
        v->keys[v->n] = key;
    }
    memset(&v->items[v->n], 0, sizeof(jv));
    v->n++;
    return jv_parse_at(p, &v->items[v->n - 1], depth + 1);
}

static int jv_parse_at(const char **p, jv *v, int depth) {
    memset(v, 0, sizeof *v);
    if (depth > 64) return 0;
    jv_ws(p);
    char c = **p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? JV_OBJ : JV_ARR;
        char close = c == '{' ? '}' : ']';
        (*p)++;
        jv_ws(p);
        if (**p == close) {
            (*p)++;
            return 1;
        }
        for (;;) {
            char *key = NULL;
            jv_ws(p);
            if (v->type == JV_OBJ) {
                if (**p != '"' || !(key = jv_string(p))) return 0;
                jv_ws(p);
                if (**p != ':') {
                    free(key);
                    return 0;
                }
                (*p)++;
            }
            if (!jv_push(v, p, key, depth)) return 0;
            jv_ws(p);
            if (**p == ',') (*p)++;
            else if (**p == close) {
                (*p)++;
                return 1;
            } else return 0;
        }
    }
    if (c == '"') {
        v->type = JV_STR;
        return (v->str = jv_string(p)) != NULL;
    }
    if (!strncmp(*p, "null", 4) || !strncmp(*p, "true", 4) || !strncmp(*p, "false", 5)) {
        v->type = c == 'n' ? JV_NULL : JV_NUM;
        v->num = c == 't';
        *p += c == 'f' ? 5 : 4;
        return 1;
    }
    char *end;
    v->type = JV_NUM;
    v->num = strtod(*p, &end);
    if (end == *p) return 0;
    *p = end;
    return 1;
}

/* Parse text into v; 0 on malformed input (v is then freed). */
static int jv_parse(const char *text, jv *v) {
    const char *p = text;
    if (!jv_parse_at(&p, v, 0)) {
        jv_free(v);
        return 0;
    }
    return 1;
}

/* Member key of object v, or NULL. */
static const jv *jv_get(const jv *v, const char *key) {
    if (!v || v->type != JV_OBJ) return NULL;
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->keys[i], key)) return &v->items[i];
    return NULL;
}

/* Whole file as a NUL-terminated string (NULL if unreadable). */
static char *jv_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

#endif
