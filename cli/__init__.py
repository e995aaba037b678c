"""The `aiwf` command line: the application on top of every layer.

Imports flow one way: schemas <- bus <- (dlq, workers) <- cli. Nothing below imports this
package; it is the one place that knows every worker and every command.

    main.py       the typer app, --version, usage errors as one `aiwf:` line
    support.py    one Redis connection per command, JSON or table output, one-line errors
    publish.py    publish, tail
    schemas.py    schemas ls | export | check (asyncapi.py: the AsyncAPI document, via faststream)
    keys.py       keys generate | rotate (and the missing keys `aiwf up` creates)
    acl.py        acl generate: one Redis user per service, gateway, cli, operator; password files
    certs.py      certs generate: CA, server and client certificates for mutual TLS
    embedded.py   the embedded Redis of up/demo, its ACL file and certificates made on first use
    health.py     health, from heartbeats
    up.py         worker, up (supervise.py: one process per worker, restarted with backoff;
                  service_path.py: a built-in worker by name, or a user's `module:service`;
                  startup.py: why a worker stopped, as one line; uplock.py: one `up` per data dir)
    demo.py       demo: the summary pipeline on the sample article
    dlq.py        dlq ls | show | purge (replay.py: dlq replay; dlq_audit.py: dlq audit; letters.py: shared options)
    env.py        env, status: which Redis this data dir uses, for a second shell or tool
    blobs.py      blobs put | get | ls | gc (the claim-check store)
    streams.py    streams, groups, pending, reclaim
    auth.py       auth verify
    calendar.py   calendar agenda
    tts.py        tts voices
"""
