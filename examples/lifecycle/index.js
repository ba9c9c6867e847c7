// What an environment looks like from inside: warm reuse, /tmp, the read-only rest, the
// user, Lambda's environment variables and the context object.
const fs = require('fs');

let invocations = 0;
const loadedAt = Date.now();

function tryWrite(path) {
  try {
    fs.writeFileSync(path, 'x');
    return 'written';
  } catch (e) {
    return e.code;
  }
}

exports.handler = async (event, context) => {
  invocations += 1;
  let tmpBefore = null;
  try {
    tmpBefore = fs.readFileSync('/tmp/lifecycle-count', 'utf8');
  } catch (e) {
    // not written yet in this environment
  }
  fs.writeFileSync('/tmp/lifecycle-count', String(invocations));
  if (event && event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  // event.tmpMB: write (then delete) a file that large in /tmp. On Lambda /tmp is disk, so
  // it does not count against the function's memory, whatever its size up to /tmp's.
  let tmpWrittenMB;
  if (event && event.tmpMB) {
    const mb = Buffer.alloc(1 << 20, 1);
    const fd = fs.openSync('/tmp/lifecycle-big', 'w');
    for (let i = 0; i < event.tmpMB; i++) fs.writeSync(fd, mb);
    fs.closeSync(fd);
    tmpWrittenMB = fs.statSync('/tmp/lifecycle-big').size / 1048576;
    fs.unlinkSync('/tmp/lifecycle-big');
  }
  console.log('lifecycle invoke', invocations);
  return {
    invocations,
    loadedAt,
    tmpBefore,
    tmpWrittenMB,
    writes: {
      tmp: tryWrite('/tmp/w'),
      task: tryWrite('/var/task/w'),
      opt: tryWrite('/opt/w'),
      root: tryWrite('/w'),
      runtime: tryWrite('/var/runtime/w'),
      etc: tryWrite('/etc/w'),
    },
    uid: process.getuid(),
    gid: process.getgid(),
    hostname: require('os').hostname(),
    cwd: process.cwd(),
    env: process.env,
    context: {
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      memoryLimitInMB: context.memoryLimitInMB,
      logGroupName: context.logGroupName,
      logStreamName: context.logStreamName,
      invokedFunctionArn: context.invokedFunctionArn,
      awsRequestId: context.awsRequestId,
      remaining: context.getRemainingTimeInMillis(),
    },
  };
};
