// Creates (if missing) and reads an ssb-keys 8.5.0 secret file, so a test can
// know a JS identity before starting the script that uses it.
//
//   node keys.js FILE
//
// Prints one JSON line: {"id":"@…","public":"….ed25519","private":"….ed25519"}.
'use strict'

const ssbKeys = require('ssb-keys')
const { log } = require('./common')

if (process.argv.length !== 3) {
  log('usage: node keys.js FILE')
  process.exit(2)
}
const keys = ssbKeys.loadOrCreateSync(process.argv[2])
process.stdout.write(JSON.stringify({ id: keys.id, public: keys.public, private: keys.private }) + '\n')
