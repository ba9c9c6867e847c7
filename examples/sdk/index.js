// Uses the AWS SDK that Lambda ships with the runtime (v2 on nodejs14.x/16.x, v3 on 18.x),
// without calling AWS: it only builds a client and reports which SDK answered.
exports.handler = async () => {
  try {
    const { S3Client, ListBucketsCommand } = require('@aws-sdk/client-s3');
    const client = new S3Client({ region: 'us-east-1' });
    return { sdk: 'v3', client: client.constructor.name, command: typeof ListBucketsCommand };
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
    const AWS = require('aws-sdk');
    const s3 = new AWS.S3({ region: 'us-east-1' });
    return { sdk: 'v2', version: AWS.VERSION, client: typeof s3.listBuckets };
  }
};
