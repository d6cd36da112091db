#ifndef CPNG_SHIM_H
#define CPNG_SHIM_H
/*
 * libpng reports errors by longjmp-ing to a setjmp point, and Swift can neither call setjmp nor be
 * unwound through. So every libpng call lives in these C functions: the setjmp is here, errors come
 * back as a non-zero return code plus libpng's message, and no longjmp ever crosses a Swift frame.
 * zlib is exported too (crc32, compress2, uncompress) for the APNG writer, which builds chunks itself.
 */
#include <png.h>
#include <zlib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *key;
    const char *text;     /* tEXt: Latin-1 bytes; iTXt: UTF-8 */
    size_t length;
    int utf8;             /* 1 => iTXt (uncompressed), 0 => tEXt */
} cpng_text_in;

typedef struct {
    unsigned width, height;
    unsigned char *rgb;   /* malloc'd, width*height*3 */
    int num_text;
    char **keys;          /* malloc'd arrays of malloc'd NUL-terminated strings */
    char **texts;
    int *utf8;            /* 1: iTXt (UTF-8), 0: tEXt/zTXt (Latin-1) */
    char message[256];    /* CPNG_MESSAGE_SIZE */
} cpng_read_result;

#define CPNG_MESSAGE_SIZE 256

/* The error pointer is a CPNG_MESSAGE_SIZE buffer owned by the caller (not a local of the function
 * that called setjmp, whose value would be indeterminate after the longjmp). */
static inline void cpng_on_error(png_structp png, png_const_charp msg) {
    char *message = (char *)png_get_error_ptr(png);
    if (message) snprintf(message, CPNG_MESSAGE_SIZE, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

/* Warnings (e.g. "known incorrect sRGB profile") are not ours to print on the user's terminal. */
static inline void cpng_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* Writes 8-bit RGB, non-interlaced, with the text chunks before IDAT. Returns 0 or a negative code
 * with `message` (CPNG_MESSAGE_SIZE bytes) set. Data is fflush-ed; the caller fsyncs and renames. */
static inline int cpng_write_rgb8(const char *path, const unsigned char *rgb, unsigned width, unsigned height,
                                  const cpng_text_in *texts, int num_text, char *message) {
    const size_t message_size = CPNG_MESSAGE_SIZE;
    message[0] = 0;
    FILE *fp = fopen(path, "wb");
    if (!fp) { snprintf(message, message_size, "cannot open for writing"); return -1; }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, cpng_on_error, cpng_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_textp chunks = (png_textp)calloc(num_text > 0 ? (size_t)num_text : 1, sizeof(png_text));
    if (!png || !info || !chunks) {
        png_destroy_write_struct(&png, &info); free(chunks); fclose(fp);
        snprintf(message, message_size, "out of memory"); return -2;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info); free(chunks); fclose(fp);
        return -3;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int i = 0; i < num_text; i++) {
        chunks[i].key = (png_charp)texts[i].key;
        chunks[i].text = (png_charp)texts[i].text;
        if (texts[i].utf8) {
            chunks[i].compression = PNG_ITXT_COMPRESSION_NONE;
            chunks[i].itxt_length = texts[i].length;
            chunks[i].lang = NULL;
            chunks[i].lang_key = NULL;
        } else {
            chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
            chunks[i].text_length = texts[i].length;
        }
    }
    if (num_text > 0) png_set_text(png, info, chunks, num_text);
    png_write_info(png, info);
    for (unsigned y = 0; y < height; y++) png_write_row(png, rgb + (size_t)y * width * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(chunks);
    if (fflush(fp) != 0) { fclose(fp); snprintf(message, message_size, "write failed"); return -4; }
    if (fclose(fp) != 0) { snprintf(message, message_size, "close failed"); return -4; }
    return 0;
}

static inline void cpng_read_free(cpng_read_result *r) {
    free(r->rgb); r->rgb = NULL;
    for (int i = 0; i < r->num_text; i++) {
        if (r->keys) free(r->keys[i]);
        if (r->texts) free(r->texts[i]);
    }
    free(r->keys); free(r->texts); free(r->utf8);
    r->keys = NULL; r->texts = NULL; r->utf8 = NULL; r->num_text = 0;
}

/* Reads any PNG as 8-bit RGB: palette → RGB, gray → RGB, 1/2/4-bit → 8, 16-bit scaled to 8 (rounded),
 * alpha and tRNS dropped (colour kept as stored), interlacing undone. Text chunks (tEXt, zTXt, iTXt,
 * before or after IDAT) are copied out. Everything `out` owns is released by cpng_read_free, also on
 * error. Returns 0, or a negative code with out->message set. */
/* `fd` is an open descriptor of a regular file (the caller checked; it is closed here). Images with a side
 * over `max_dim` or more than `max_pixels` pixels are refused from the header, before any pixel is decoded. */
static inline int cpng_read_rgb8(int fd, cpng_read_result *out, unsigned max_dim, unsigned long long max_pixels) {
    memset(out, 0, sizeof *out);
    FILE *fp = fdopen(fd, "rb");
    if (!fp) { close(fd); snprintf(out->message, sizeof out->message, "cannot open for reading"); return -1; }
    unsigned char signature[8];
    if (fread(signature, 1, 8, fp) != 8 || png_sig_cmp(signature, 0, 8) != 0) {
        fclose(fp); snprintf(out->message, sizeof out->message, "not a PNG file"); return -5;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, out->message, cpng_on_error, cpng_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL); fclose(fp);
        snprintf(out->message, sizeof out->message, "out of memory"); return -2;
    }
    /* State that the error path frees lives in *out (memory), never in locals changed after setjmp. */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL); fclose(fp);
        cpng_read_free(out);
        if (!out->message[0]) snprintf(out->message, sizeof out->message, "corrupt PNG");
        return -3;
    }
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, max_dim, max_dim);
    png_read_info(png, info);
    if ((unsigned long long)png_get_image_width(png, info) * png_get_image_height(png, info) > max_pixels) {
        char too_big[CPNG_MESSAGE_SIZE];   /* copied into out->message by cpng_on_error before the longjmp */
        snprintf(too_big, sizeof too_big, "%u×%u pixels is more than the %llu an input image may have",
                 png_get_image_width(png, info), png_get_image_height(png, info), max_pixels);
        png_error(png, too_big);
    }
    png_byte color = png_get_color_type(png, info);
    png_byte depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_scale_16(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    out->width = png_get_image_width(png, info);
    out->height = png_get_image_height(png, info);
    if (png_get_rowbytes(png, info) != (size_t)out->width * 3) png_error(png, "unexpected row layout after transforms");
    out->rgb = (unsigned char *)malloc((size_t)out->width * out->height * 3);
    if (!out->rgb) png_error(png, "out of memory for pixels");
    for (int pass = 0; pass < passes; pass++)
        for (unsigned y = 0; y < out->height; y++)
            png_read_row(png, out->rgb + (size_t)y * out->width * 3, NULL);
    png_read_end(png, info);
    png_textp text = NULL;
    int n = png_get_text(png, info, &text, NULL);
    if (n > 0) {
        out->keys = (char **)calloc((size_t)n, sizeof(char *));
        out->texts = (char **)calloc((size_t)n, sizeof(char *));
        out->utf8 = (int *)calloc((size_t)n, sizeof(int));
        if (!out->keys || !out->texts || !out->utf8) png_error(png, "out of memory for text");
        for (int i = 0; i < n; i++) {
            out->num_text = i + 1;   /* so cpng_read_free releases exactly what is set */
            out->keys[i] = strdup(text[i].key ? text[i].key : "");
            out->texts[i] = strdup(text[i].text ? text[i].text : "");
            out->utf8[i] = text[i].compression >= PNG_ITXT_COMPRESSION_NONE;
            if (!out->keys[i] || !out->texts[i]) png_error(png, "out of memory for text");
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return 0;
}

#endif
