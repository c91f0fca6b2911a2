//! The long help texts: the app key and exit codes (every command), the Scuttlebutt defaults of
//! the commands that dial, and how `call` reads and writes.

/// The end of every help text: the app key and the exit codes.
macro_rules! common_help {
    () => {
        "\
The app key (network key): --app-key or $SECRET_STACK_APP_KEY; for serve also its config
file, for call and manifest also ~/.ssb (below). Without any there is no default. The
interop tests use SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=, the Scuttlebutt main
network 1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=.

Exit codes:
  0  success
  1  the remote peer answered with an error (printed on stderr as `name: message`)
  2  bad usage or a local problem (arguments, address, config, key file, stdin, stdout)
  3  network failure (cannot connect, handshake refused, connection lost, cannot listen)
  4  --timeout elapsed
  130, 143  call or manifest stopped by Ctrl-C (SIGINT) or SIGTERM
serve stops on Ctrl-C or SIGTERM: it closes (within a second) and exits with 0."
    };
}

/// Where `call` and `manifest` dial, as whom, on which network.
macro_rules! dial_help {
    () => {
        "\
Scuttlebutt: without ADDRESS, call and manifest dial the local Scuttlebutt server the way
`ssb-server whoami` does, from ~/.ssb (~/.$ssb_appname if set): the address from
~/.ssb/config (connections.incoming.net[0]'s host and port, else host and port, else
127.0.0.1:8008) and the key of ~/.ssb/secret, our identity ~/.ssb/secret (the server's
own key, so it grants full access), the app key caps.shs or else the main network's.

The first that applies wins:
  identity  --keys, $SECRET_STACK_KEYS, then with ADDRESS: ~/.secret-stack/secret,
            ~/.ssb/secret, a throwaway one; without ADDRESS: ~/.ssb/secret
  app key   --app-key, $SECRET_STACK_APP_KEY, ~/.ssb/config's caps.shs, the main
            network's if ~/.ssb exists; else an error

"
    };
}

/// After the help of `serve` and of the whole program.
pub const AFTER_HELP: &str = common_help!();

/// After the help of `manifest`.
pub const DIAL_HELP: &str = concat!(dial_help!(), common_help!());

/// After the help of `call`.
pub const CALL_HELP: &str = concat!(
    "\
Each ARG_JSON is parsed as JSON; if it is not JSON it is sent as a string, so
`call ADDR test.hello world` sends \"world\" and `call ADDR test.add 1 2` sends two numbers
(quote a string that looks like JSON: '\"42\"'). The first word is the ADDRESS if it has a
`:` (every address has one, no method name can).

The kind of the method is read from the remote manifest (one extra call) unless --kind
is given. Answers go to stdout, one JSON value per line: the answer of an async/sync call,
each item of a source or duplex as it arrives (a sink prints nothing). Binary answers are
printed as base64 strings (with a note on stderr). Sinks and duplexes read their items
from stdin, one per line, parsed like ARG_JSON (blank lines are skipped); the end of stdin
ends them. The command ends as soon as the call does, even if stdin is still open (say, a
terminal): input that was read but not sent by then is reported on stderr, and nothing more
is read.

With --raw, stdin is sent as binary chunks (its bytes as they are), and binary answers are
written to stdout as their bytes (text answers as their UTF-8 bytes, JSON still as lines).

Examples:
  secret-stack call whoami
  secret-stack call \"$ADDR\" test.hello world
  secret-stack call \"$ADDR\" test.count 5
  printf '1\\n{\"a\":2}\\n' | secret-stack call \"$ADDR\" test.collect
  secret-stack call \"$ADDR\" test.echo --kind duplex < items.jsonl
  secret-stack call blobs.add --raw < picture.jpg
  secret-stack call blobs.get '&….sha256' --raw > picture.jpg

",
    dial_help!(),
    common_help!()
);
