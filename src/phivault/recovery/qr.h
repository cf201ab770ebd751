// QR codes of a recovery share's text, for the terminal and for a PNG file to print
// (doc/format/recovery-kit.md, "QR codes").
//
// The symbol comes from libqrencode at error-correction level M with the smallest version that
// fits. A share's text is all alphanumeric-mode characters, so the share of a 32-byte secret
// (116 characters) fits version 5: 37 modules, 45 with the 4-module quiet zone both renderings
// draw, which is 45 columns by 23 lines on a terminal and 360 pixels square as a PNG.
//
// A QR code of a share is as secret as the share. The module buffers this file allocates are
// wiped before release, and the PNG is created with mode 0600. Two copies are outside our
// control: libqrencode's and libpng's internal working buffers are freed without wiping, and the
// string QrForTerminal returns is a plain std::string the caller should wipe when done.
//
// Thread safety: the functions are safe to call from any thread (libqrencode is built with
// pthread support on Debian).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "phivault/base/secret.h"
#include "phivault/base/status.h"

namespace phivault::recovery {

// Which of the terminal's two colours the block characters stand for.
enum class TerminalColors : uint8_t {
  // The blocks (the terminal's text colour) are the dark modules and the background shows
  // through as the light ones, quiet zone included. Right for dark text on a light background
  // and for a printout; the default.
  kDarkOnLight,
  // The blocks are the light modules and the quiet zone, for light text on a dark background;
  // without this a dark terminal shows a negative image, which many scanners refuse.
  kLightOnDark,
};

// `text` as a QR code drawn with the half and full blocks U+2580, U+2584, U+2588 and spaces
// (UTF-8), two module rows to a line, every line the same number of characters, each ending in
// '\n'. Module rows are top to bottom and columns left to right, as the symbol is meant to be
// read (not mirrored). When the symbol with its quiet zone has an odd number of rows, the last
// line's lower half is one more row of quiet zone. kInvalidArgument for empty text, text
// containing NUL, or text too long for any QR version.
Result<std::string> QrForTerminal(std::string_view text,
                                  TerminalColors colors = TerminalColors::kDarkOnLight);

// Writes `text` as a QR code to a new PNG file at `path`: 1-bit grayscale, 8 pixels per module,
// dark modules black on white, 4-module quiet zone. The file is created with O_CREAT | O_EXCL
// and mode 0600 (kAlreadyExists if `path` exists, without touching it), and flushed to disk; on
// a failure after creating it, the partial file is removed.
Status WriteQrPng(std::string_view text, const std::string& path);

namespace internal {

// A QR symbol without quiet zone: width × width modules, row-major, top row first.
struct QrSymbol {
  int width = 0;
  // One byte per module, 1 for dark and 0 for light.
  SecretBytes modules;

  bool Dark(int row, int col) const {
    return modules.data()[static_cast<size_t>(row) * static_cast<size_t>(width) +
                          static_cast<size_t>(col)] != 0;
  }
};

// The symbol libqrencode makes of `text`, with the settings described above.
Result<QrSymbol> EncodeQr(std::string_view text);

}  // namespace internal

}  // namespace phivault::recovery
