/**
 * Express 4, installed beside Express 5 under the alias `express4` (a dev dependency) for
 * `express4.test.ts`. Typed with Express 5's types: the tests use only APIs both versions have.
 */
declare module 'express4' {
  import express = require('express');
  export = express;
}
