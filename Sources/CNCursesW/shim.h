#ifndef CNCURSESW_SHIM_H
#define CNCURSESW_SHIM_H
#define NCURSES_WIDECHAR 1   /* must precede the include: SwiftPM drops pkg-config's -D flags */
#include <ncurses.h>
#include <locale.h>
#include <langinfo.h>

/* Swift 6 cannot read C globals (not concurrency-safe) nor bit macros: accessors instead. */
static const attr_t CW_A_NORMAL = A_NORMAL;
static const attr_t CW_A_BOLD = A_BOLD;
static const attr_t CW_A_REVERSE = A_REVERSE;
static const attr_t CW_A_DIM = A_DIM;
static const attr_t CW_A_UNDERLINE = A_UNDERLINE;
static inline WINDOW *cw_stdscr(void) { return stdscr; }
static inline int cw_lines(void) { return LINES; }
static inline int cw_cols(void) { return COLS; }
static inline int cw_colors(void) { return COLORS; }
static inline int cw_color_pairs(void) { return COLOR_PAIRS; }
static inline void cw_set_escdelay(int ms) { set_escdelay(ms); }
/* Mouse: BUTTONn_* are macros built from NCURSES_MOUSE_MASK, not imported. */
static inline mmask_t cw_mouse_events(void) {
    return BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED;
}
static inline int cw_is_press(mmask_t m) { return (m & (BUTTON1_PRESSED | BUTTON1_CLICKED)) != 0; }
static inline int cw_is_wheel_up(mmask_t m) { return (m & BUTTON4_PRESSED) != 0; }
static inline int cw_is_wheel_down(mmask_t m) { return (m & BUTTON5_PRESSED) != 0; }
static inline int cw_key_f(int n) { return KEY_F(n); }
#include <term.h>
/* A terminfo string capability, or NULL when the terminal has none (tigetstr's (char *)-1 and 0). */
static inline const char *cw_tigetstr(const char *cap) {
    char *s = tigetstr(cap);
    return (s == NULL || s == (char *)-1) ? NULL : s;
}
/* Terminfo without a screen (`scalewise doctor`): colours and whether the cursor can be addressed.
   Returns -2 when the entry cannot be loaded. */
static inline int cw_terminfo_colors(const char *name, int *has_cup) {
    int err = 0;
    TERMINAL *saved = cur_term;
    if (setupterm(name, 1, &err) != OK) return -2;
    int colors = tigetnum("colors");
    const char *cup = tigetstr("cup");
    *has_cup = cup != NULL && cup != (const char *)-1;
    TERMINAL *mine = cur_term;
    set_curterm(saved);
    del_curterm(mine);
    return colors;
}
/* glibc declares wcwidth only under _XOPEN_SOURCE, which SwiftPM's flags do not set. */
extern int wcwidth(wchar_t c);
static inline int cw_wcwidth(unsigned int c) { return wcwidth((wchar_t)c); }
#endif
