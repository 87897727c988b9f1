/** Shapes shared by the primitive wrappers. */

/** A public/secret key pair. The caller owns both arrays; zero `secretKey` when done with it. */
export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** Result of a KEM encapsulation. */
export interface Encapsulation {
  ciphertext: Uint8Array;
  sharedSecret: Uint8Array;
}
