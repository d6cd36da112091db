#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H
/* OpenSSL's libcrypto, for the SHA-256 of weight files (EVP: the SHA256_* calls are deprecated in OpenSSL 3). */
#include <openssl/evp.h>
#endif
