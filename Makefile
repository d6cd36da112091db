# Builds and installs scalewise: the binary, the shipped models and the man page.
#
#   make install                      # into /usr/local
#   make install PREFIX=$HOME/.local  # into your home
#   make uninstall PREFIX=…
#
# The installed binary finds the models in <prefix>/share/scalewise/models (see `scalewise models`).
# SWIFTFLAGS=--static-swift-stdlib makes a binary that runs without a Swift toolchain on the machine.

PREFIX ?= /usr/local
DESTDIR ?=
CONFIG ?= release
SWIFT ?= swift
SWIFTFLAGS ?=

BINDIR = $(DESTDIR)$(PREFIX)/bin
MODELDIR = $(DESTDIR)$(PREFIX)/share/scalewise/models
MANDIR = $(DESTDIR)$(PREFIX)/share/man/man1

.PHONY: all build install uninstall test

all: build

build:
	$(SWIFT) build -c $(CONFIG) $(SWIFTFLAGS) --product scalewise

install: build
	install -d "$(BINDIR)" "$(MODELDIR)" "$(MANDIR)"
	install -m 755 "$$($(SWIFT) build -c $(CONFIG) $(SWIFTFLAGS) --show-bin-path)/scalewise" "$(BINDIR)/scalewise"
	install -m 644 weights/*.safetensors "$(MODELDIR)/"
	install -m 644 man/scalewise.1 "$(MANDIR)/scalewise.1"

uninstall:
	rm -f "$(BINDIR)/scalewise" "$(MANDIR)/scalewise.1"
	cd weights && for f in *.safetensors; do rm -f "$(MODELDIR)/$$f"; done
	-rmdir "$(MODELDIR)" "$(DESTDIR)$(PREFIX)/share/scalewise"

test:
	$(SWIFT) test
