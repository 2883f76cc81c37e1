// Shared definitions for tandem's native addon (native/tandem.c).
#ifndef TANDEM_NATIVE_H
#define TANDEM_NATIVE_H

// Bump when the JS-visible API changes (version() reports it).
#define TANDEM_NATIVE_VERSION "1.0.0"

#endif
