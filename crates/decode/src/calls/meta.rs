//! Records the tracer itself emits: a process starting (or leaving for an
//! untraced program) and a count of lost records. A process start is
//! typed ([`ProcStart`]); its fields are rendered from it after the socket
//! table has said which parent to show ([`process_fields`]).

use super::{arg, f, string, Ctx};
use crate::value::{Event, Field, ProcStart, ProcessChange, Value};
use sock_trace_event::{platform, role, Func};

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Ctx<'_, '_>, ev: &mut Event) {
    use Func::*;
    match ev.func {
        Pad | Module => {}
        ProcLeave => {
            let reason = arg(rec, 0);
            ev.args = vec![
                f("reason", Value::Int(reason.min(i64::MAX as u64) as i64)),
                f("exe", string(rec, role::EXE, 1)),
            ];
            ev.core.process = Some(ProcessChange::Leaves {
                reason,
                exe: rec.str(role::EXE).map(<[u8]>::to_vec),
            });
        }
        ProcStart => {
            // args[1] is 1 when the record comes from the child side of a
            // fork, 0 for a new program image; args[2] the platform and
            // backend (0 for Linux and the preload library).
            let (platform, backend) = platform::decode(arg(rec, 2));
            let p = crate::ProcStart {
                ppid: arg(rec, 0) as u32,
                forked: arg(rec, 1) == 1,
                exe: rec.str(role::EXE).map(<[u8]>::to_vec),
                argv: rec
                    .str(role::ARGV)
                    .map(|a| a.split(|&b| b == 0).map(<[u8]>::to_vec).collect()),
                platform,
                backend,
            };
            ev.args = process_fields(&p);
            ev.core.process = Some(ProcessChange::Started(p));
        }
        // The count is whatever the producer wrote: shown unsigned.
        Lost => {
            ev.args = vec![f(
                "count",
                Value::Int(arg(rec, 0).min(i64::MAX as u64) as i64),
            )]
        }
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
}

/// What printers show of a process start.
pub(crate) fn process_fields(p: &ProcStart) -> Vec<Field> {
    let mut fields = vec![
        f("ppid", Value::Int(p.ppid as i64)),
        f(
            "exe",
            match &p.exe {
                Some(e) => Value::Str(e.clone()),
                None => Value::Unavailable("unreadable"),
            },
        ),
    ];
    if let Some(argv) = &p.argv {
        let list = argv.iter().map(|a| Value::Str(a.clone())).collect();
        fields.push(f("argv", Value::List(list)));
    }
    fields
}
